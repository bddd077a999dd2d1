"""Consume rate of the broker itself, the reference for replay: one consumer reads every
partition of a topic from the beginning to its end (partition EOF) and prints
"messages seconds"."""
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

brokers, topic = sys.argv[1], sys.argv[2]
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "raw-consume-%d" % time.time_ns(),
                     "enable.auto.commit": False, "enable.partition.eof": True})
partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
start = time.time()
consumer.assign([TopicPartition(topic, p, -2) for p in partitions])
ended, count = set(), 0
while len(ended) < len(partitions):
    for message in consumer.consume(10000, 1.0):
        error = message.error()
        if error is None:
            count += 1
        elif error.code() == KafkaError._PARTITION_EOF:
            ended.add(message.partition())
print(count, "%.3f" % (time.time() - start))
