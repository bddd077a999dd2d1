import CRDKafka

/// Conversions between Swift partition values and `rd_kafka_topic_partition_list_t`.
enum RDKafkaTopicPartitionList {
    /// A new list the caller must destroy with `rd_kafka_topic_partition_list_destroy`.
    static func make(_ offsets: [KafkaTopicPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for entry in offsets {
            let element = rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!
            element.pointee.offset = entry.offset.rawValue
        }
        return list
    }

    static func make(_ partitions: [KafkaTopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        make(partitions.map { KafkaTopicPartitionOffset($0, offset: .invalid) })
    }

    static func elements(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [(KafkaTopicPartitionOffset, rd_kafka_resp_err_t)] {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elems = list.pointee.elems else { return [] }
        return (0..<count).map { index in
            let e = elems[index]
            let tp = KafkaTopicPartition(topic: String(cString: e.topic), partition: e.partition)
            return (KafkaTopicPartitionOffset(tp, offset: KafkaOffset(rawValue: e.offset)), e.err)
        }
    }

    static func partitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        return elements(list).map(\.0.topicPartition)
    }

    /// The offsets, or the first per-partition error.
    static func offsets(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>, operation: String) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        var result: [KafkaTopicPartitionOffset] = []
        for (entry, err) in elements(list) {
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(err, operation: operation, detail: "\(entry.topicPartition)")
            }
            result.append(entry)
        }
        return result
    }
}
