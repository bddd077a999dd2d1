import PumphouseKafka

/// A message the writer could not apply, with why and where it came from. It goes to
/// the writer's dead-letter topic unchanged (key, value, headers) plus these headers,
/// before the offset that passes it is committed: bad input never vanishes. Only a
/// message too large for that topic loses its value, or its key and headers too (see
/// `Content`); its source position still leads to it.
public struct DeadLetter: Sendable, Hashable {
    public enum Header {
        public static let reason = "ph-dlq-reason"
        public static let error = "ph-dlq-error"
        public static let topic = "ph-dlq-topic"
        public static let partition = "ph-dlq-partition"
        public static let offset = "ph-dlq-offset"
        public static let writer = "ph-dlq-writer"
        /// Set, to the value's size in bytes, when the value was too large for the
        /// dead-letter topic and was left out; it stays at the source topic and offset.
        public static let valueDropped = "ph-dlq-value-dropped"
        /// Set, to the key's size in bytes, when even without its value the letter was
        /// too large: the key and the source's own headers were left out as well.
        public static let keyDropped = "ph-dlq-key-dropped"
    }

    /// How much of the source message a letter carries. A letter too large for the
    /// dead-letter topic is sent again with less, never retried whole: that could never
    /// succeed, and the writer would stop behind it.
    enum Content: CaseIterable, Sendable {
        case whole
        /// Key and headers, no value.
        case withoutValue
        /// Only the `ph-dlq-*` headers; the source topic, partition and offset lead to the rest.
        case bare
    }

    public var message: KafkaMessage
    /// Stable token: a ContractError code, `missing-row`, `rejected-by-database`, ...
    public var reason: String
    public var detail: String

    func producerMessage(topic: String, writer: String, content: Content = .whole) -> KafkaProducerMessage {
        var headers = content == .bare ? [] : message.headers
        headers.append(KafkaHeader(name: Header.reason, string: reason))
        headers.append(KafkaHeader(name: Header.error, string: String(detail.prefix(1024))))
        headers.append(KafkaHeader(name: Header.topic, string: message.topic))
        headers.append(KafkaHeader(name: Header.partition, string: String(message.partition)))
        headers.append(KafkaHeader(name: Header.offset, string: String(message.offset)))
        headers.append(KafkaHeader(name: Header.writer, string: writer))
        if content != .whole { headers.append(KafkaHeader(name: Header.valueDropped, string: String(message.value?.count ?? 0))) }
        if content == .bare { headers.append(KafkaHeader(name: Header.keyDropped, string: String(message.key?.count ?? 0))) }
        return KafkaProducerMessage(
            topic: topic, partition: 0, key: content == .bare ? nil : message.key, value: content == .whole ? message.value : nil, headers: headers
        )
    }
}
