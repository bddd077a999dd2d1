"""What a fetch that finds records costs the local broker as its log grows.

    .stack/venv/bin/python Benchmarks/broker/growth.py BROKERS BROKER_PID [RATE] [SECONDS] [CONSUMERS]
    (defaults: 500 records/s, 90 s, 1 consumer)

Start the stack's memory broker first (deploy/local/stack memory-broker-start) and pass
its address and pid (.stack/memory-broker.pid). On three new topics of 4 partitions, one
idempotent producer with the data pump's linger (1 ms) sends 300-byte records one at a
time at RATE, so each is a batch of its own, while CONSUMERS consumers, each assigned
every partition from the start, read with fetch.wait.max.ms 100 (FETCH_WAIT_MS) and
fetch.min.bytes 1 (FETCH_MIN_BYTES). Every 10 s it prints how many records the topics
hold and the broker's CPU per record sent in that window (the kernel counts CPU in
10 ms ticks). Not part of `make bench`: it explains the on-sale's broker share
(docs/benchmarks.md, "A fetch that finds records costs this broker more as the log
grows").
"""
import os
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from process_cpu import cpu_seconds

brokers, broker_pid = sys.argv[1], int(sys.argv[2])
rate = int(sys.argv[3]) if len(sys.argv) > 3 else 500
seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 90
consumers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
window = 10.0


prefix = f"growth{int(time.time())}"
topics = [f"{prefix}.{name}" for name in ("a", "b", "c")]
admin = AdminClient({"bootstrap.servers": brokers})
for future in admin.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
    future.result(timeout=30)

stopping = threading.Event()
consumed = [0] * consumers


def consume(index):
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": f"{prefix}-{index}", "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.wait.max.ms": int(os.environ.get("FETCH_WAIT_MS", "100")),
        "fetch.min.bytes": int(os.environ.get("FETCH_MIN_BYTES", "1")),
    })
    # Assigned, not subscribed: reading starts at once, with no group to join.
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for topic in topics for partition in range(4)])
    while not stopping.is_set():
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            consumed[index] += 1
    consumer.close()


readers = [threading.Thread(target=consume, args=(i,)) for i in range(consumers)]
for reader in readers:
    reader.start()

failed = [0]


def delivered(error, _message):
    if error is not None:
        failed[0] += 1


producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all", "linger.ms": 1})
payload = b"x" * 300
start = time.monotonic()
window_start, window_cpu, window_sent, sent = start, cpu_seconds(broker_pid), 0, 0
while time.monotonic() - start < seconds:
    due = start + sent / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    producer.produce(topics[sent % len(topics)], payload, key=str(sent).encode(), on_delivery=delivered)
    producer.poll(0)
    sent += 1
    if time.monotonic() - window_start >= window:
        cpu, now = cpu_seconds(broker_pid), time.monotonic()
        print(f"{sent} records in the topics, consumers have read {consumed}: broker {100 * (cpu - window_cpu) / (now - window_start):.0f}% of a core, "
              f"{1000 * (cpu - window_cpu) / (sent - window_sent):.3f} ms per record", flush=True)
        window_start, window_cpu, window_sent = now, cpu, sent
producer.flush(30)
stopping.set()
for reader in readers:
    reader.join()
if failed[0]:
    sys.exit(f"{failed[0]} records were not delivered: the figures are wrong")
