"""What the local broker spends per request, read from its own CPU time.

    .stack/venv/bin/python Benchmarks/broker/probe.py BROKERS BROKER_PID

Start the stack's memory broker first (deploy/local/stack memory-broker-start) and pass
its address and pid (.stack/memory-broker.pid). On a topic of its own, growing to
100, 1,000, 5,000 and 20,000 single-record batches, it prints the broker's CPU per
single-record produce (each flushed alone, as a unit's pump sends one change at a time
when changes are sparse) and per fetch held at the partition's end for
fetch.wait.max.ms (100 ms, or FETCH_WAIT_MS), counted from librdkafka's statistics over
10 s (the kernel counts CPU in 10 ms ticks, so about a hundred fetches make one figure).
Not part of `make bench`: it explains the on-sale's broker share
(docs/benchmarks.md, where the time goes).
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from process_cpu import cpu_seconds

brokers, broker_pid = sys.argv[1], int(sys.argv[2])
wait_ms = int(os.environ.get("FETCH_WAIT_MS", "100"))


topic = f"probe{int(time.time())}"
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
producer = Producer({"bootstrap.servers": brokers, "linger.ms": 0})
batches = 0
for target in (100, 1_000, 5_000, 20_000):
    produced, before = target - batches, cpu_seconds(broker_pid)
    while batches < target:
        producer.produce(topic, key=b"k", value=b"x" * 200, partition=0)
        producer.flush()
        batches += 1
    produce_ms = (cpu_seconds(broker_pid) - before) * 1000 / produced

    stats = {}
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": f"{topic}-probe", "enable.auto.commit": False,
        "fetch.wait.max.ms": wait_ms, "statistics.interval.ms": 1000,
        "stats_cb": lambda text: stats.update(last=json.loads(text)),
    })
    consumer.assign([TopicPartition(topic, 0, batches)])

    def fetches():
        return sum(broker["req"].get("Fetch", 0) for broker in stats["last"]["brokers"].values())

    settle = time.time()
    while time.time() - settle < 1.5 or "last" not in stats:
        consumer.poll(0.1)
    fetched, before, started = fetches(), cpu_seconds(broker_pid), time.time()
    while time.time() - started < 10:
        consumer.poll(0.1)
    count = fetches() - fetched
    fetch_ms = (cpu_seconds(broker_pid) - before) * 1000 / max(1, count)
    consumer.close()
    print(f"{batches} batches: broker CPU {produce_ms:.2f} ms per single-record produce; "
          f"{count} fetches held up to {wait_ms} ms at the end in 10 s, {fetch_ms:.2f} ms of broker CPU each", flush=True)
