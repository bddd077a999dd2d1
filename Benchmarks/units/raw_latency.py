"""Produce-to-consume latency of the broker itself with one producer and one consumer:
what the broker gives without the units' fan-out (`pumphouse-bench broker-latency`
measures it with the fan-out).

One idempotent producer (linger 1 ms) and one consumer (fetch wait 5 ms), the settings
of a unit's data pump and replica, at the given rate for the given seconds; prints
"p50_ms p99_ms p999_ms count".
"""
import struct
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

brokers, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
topic = "raw-latency-%d" % int(time.time() * 1000)
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 4, 1)])[topic].result()
producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 1})
consumer = Consumer({"bootstrap.servers": brokers, "group.id": topic, "enable.auto.commit": False, "fetch.wait.max.ms": 5})
consumer.assign([TopicPartition(topic, p, -1) for p in range(4)])
time.sleep(2)  # let the consumer reach the end before the clock starts
lags, sent, start = [], 0, time.time()
while time.time() - start < seconds:
    due = int((time.time() - start) * rate)
    while sent < due:
        producer.produce(topic, key=str(sent % 10000), value=struct.pack("d", time.time()))
        sent += 1
    producer.poll(0)
    for message in consumer.consume(1000, 0.001):
        if message.error() is None:
            lags.append(time.time() - struct.unpack("d", message.value())[0])
producer.flush(5)
consumer.close()
lags.sort()
if not lags:
    sys.exit("no message came back from the broker")
pick = lambda q: lags[min(len(lags) - 1, int(len(lags) * q))] * 1000
print("%.1f %.1f %.1f %d" % (pick(0.5), pick(0.99), pick(0.999), len(lags)))
