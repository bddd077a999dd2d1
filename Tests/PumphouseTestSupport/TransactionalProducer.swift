import CRDKafka

/// Writes records in Kafka transactions through librdkafka directly, as some other
/// producer of a topic might (Pumphouse never produces transactionally). Each commit
/// leaves a marker at an offset of every partition the transaction wrote to: a gap in
/// the offsets that no record will ever fill.
public enum TransactionalProducer {
    public struct Record: Sendable {
        public var topic: String
        public var partition: Int32
        public var key: [UInt8]?
        public var value: [UInt8]

        public init(topic: String, partition: Int32, key: [UInt8]?, value: [UInt8]) {
            self.topic = topic
            self.partition = partition
            self.key = key
            self.value = value
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let step: String
        public let text: String
        public var description: String { "transactional producer: \(step): \(text)" }
    }

    /// Commits each element of `transactions` as one transaction, in order.
    public static func commit(_ transactions: [[Record]], brokers: String) throws {
        let conf = rd_kafka_conf_new()
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in ["bootstrap.servers": brokers, "transactional.id": TestStack.uniqueName("tx")] {
            guard rd_kafka_conf_set(conf, name, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
                throw Failure(step: "set \(name)", text: text(errorText))
            }
        }
        guard let producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            throw Failure(step: "create the producer", text: text(errorText))
        }
        defer { rd_kafka_destroy(producer) }
        try check(rd_kafka_init_transactions(producer, 30_000), "init transactions")
        var topics: [String: OpaquePointer] = [:]
        defer { topics.values.forEach { rd_kafka_topic_destroy($0) } }
        for (index, records) in transactions.enumerated() {
            try check(rd_kafka_begin_transaction(producer), "begin transaction \(index)")
            for record in records {
                let topic = try topics[record.topic] ?? {
                    guard let made = rd_kafka_topic_new(producer, record.topic, nil) else {
                        throw Failure(step: "open topic \(record.topic)", text: String(cString: rd_kafka_err2str(rd_kafka_last_error())))
                    }
                    topics[record.topic] = made
                    return made
                }()
                var value = record.value
                let sent = value.withUnsafeMutableBytes { value in
                    if let key = record.key {
                        key.withUnsafeBytes { key in
                            rd_kafka_produce(topic, record.partition, RD_KAFKA_MSG_F_COPY, value.baseAddress, value.count, key.baseAddress, key.count, nil)
                        }
                    } else {
                        rd_kafka_produce(topic, record.partition, RD_KAFKA_MSG_F_COPY, value.baseAddress, value.count, nil, 0, nil)
                    }
                }
                guard sent == 0 else {
                    throw Failure(step: "produce to \(record.topic)[\(record.partition)]", text: String(cString: rd_kafka_err2str(rd_kafka_last_error())))
                }
            }
            try check(rd_kafka_commit_transaction(producer, 30_000), "commit transaction \(index)")
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func check(_ error: OpaquePointer?, _ step: String) throws {
        guard let error else { return }
        defer { rd_kafka_error_destroy(error) }
        throw Failure(step: step, text: String(cString: rd_kafka_error_string(error)))
    }
}
