/// A Kafka record header. Pumphouse puts routing fields in headers so consumers can
/// route a message without decoding its body.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }

    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }

    /// Names are the same header when their bytes are, as Kafka compares them; Swift's
    /// String equality would also match canonically equivalent spellings.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name.utf8.elementsEqual(rhs.name.utf8) && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        for byte in name.utf8 { hasher.combine(byte) }
        hasher.combine(value)
    }
}

extension Array where Element == KafkaHeader {
    /// The last header of that name, by bytes (Kafka allows repeats; the last one wins).
    public func value(named name: String) -> [UInt8]? {
        last { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }
}

/// A message as read from a partition.
///
/// Its key, value and headers are kept as one copy of the record's bytes (see
/// `KafkaRecordBytes`): a consumer's hot path reads them in place with
/// ``withUnsafeRecord(_:)``; ``key``, ``value`` and ``headers`` make Swift values of them
/// on each access, for everything else.
public struct KafkaMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch, as stamped by the producer or broker; nil if absent.
    public var timestampMilliseconds: Int64?
    var record: KafkaRecordBytes

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader] = [], timestampMilliseconds: Int64? = nil
    ) {
        self.init(topic: topic, partition: partition, offset: offset, record: .make(key: key, value: value, headers: headers), timestampMilliseconds: timestampMilliseconds)
    }

    init(topic: String, partition: Int32, offset: Int64, record: KafkaRecordBytes, timestampMilliseconds: Int64?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.record = record
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// Lends the key, the value (nil when absent) and the headers where they lie, for
    /// the call only: nothing is copied.
    public func withUnsafeRecord<R, E: Error>(
        _ body: (_ key: UnsafeRawBufferPointer?, _ value: UnsafeRawBufferPointer?, _ headers: UnsafeBufferPointer<KafkaHeaderBytes>) throws(E) -> R
    ) throws(E) -> R {
        try record.withParts(body)
    }

    public var key: [UInt8]? {
        get { record.withParts { key, _, _ in key.map { Array($0) } } }
        set { record = .make(key: newValue, value: value, headers: headers) }
    }

    public var value: [UInt8]? {
        get { record.withParts { _, value, _ in value.map { Array($0) } } }
        set { record = .make(key: key, value: newValue, headers: headers) }
    }

    public var headers: [KafkaHeader] {
        get {
            record.withParts { _, _, headers in
                headers.map { KafkaHeader(name: String(decoding: $0.name, as: UTF8.self), value: $0.value.map { Array($0) }) }
            }
        }
        set { record = .make(key: key, value: value, headers: newValue) }
    }

    public var topicPartition: KafkaTopicPartition { .init(topic: topic, partition: partition) }
    /// The offset to commit once this message is processed.
    public var nextOffset: KafkaTopicPartitionOffset { .init(topicPartition, offset: KafkaOffset(offset + 1)) }
}

/// A message to produce.
public struct KafkaProducerMessage: Sendable, Hashable {
    public var topic: String
    /// nil lets the partitioner choose by key hash, which keeps one key in one
    /// partition and so in order.
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }

    public init(topic: String, partition: Int32? = nil, key: String, value: String, headers: [KafkaHeader] = []) {
        self.init(topic: topic, partition: partition, key: Array(key.utf8), value: Array(value.utf8), headers: headers)
    }
}

/// Identifies a sent message in its delivery report.
public struct KafkaMessageID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public var description: String { String(rawValue) }
}

/// Where a message landed.
public struct KafkaDeliveredMessage: Sendable, Hashable {
    public var id: KafkaMessageID
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// The outcome of one send, reported once per message after the broker acknowledged it
/// (with every in-sync replica, `acks=all`) or librdkafka gave up on it.
public enum KafkaDeliveryReport: Sendable, Hashable {
    case delivered(KafkaDeliveredMessage)
    case failed(KafkaMessageID, KafkaError)

    public var id: KafkaMessageID {
        switch self {
        case .delivered(let message): message.id
        case .failed(let id, _): id
        }
    }
}
