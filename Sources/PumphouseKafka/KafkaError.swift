import CRDKafka

/// An error from the Kafka client.
///
/// It keeps librdkafka's own code and text so an operator can look the code up in
/// librdkafka's documentation, and adds what Pumphouse was doing when it happened, since
/// librdkafka's text alone rarely names the topic or setting involved.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`).
    public let code: Code
    /// librdkafka's text, or Pumphouse's own when the error did not come from librdkafka.
    public let message: String
    /// What the client was doing, e.g. `produce to topic "orders"`.
    public let operation: String
    /// librdkafka says the same call may succeed if retried.
    public let isRetriable: Bool
    /// librdkafka says the client instance is unusable from now on (e.g. an idempotent
    /// producer that lost its sequence guarantees); recreate it.
    public let isFatal: Bool
    /// The partition a consumer's error is about (an offset it cannot reset, a failed
    /// fetch), when librdkafka reported it for one; its text does not name it. The
    /// partition is -1 when the error concerns the topic as a whole.
    public let topicPartition: KafkaTopicPartition?

    public init(
        code: Code, message: String, operation: String, isRetriable: Bool = false, isFatal: Bool = false,
        topicPartition: KafkaTopicPartition? = nil
    ) {
        self.code = code
        self.message = message
        self.operation = operation
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.topicPartition = topicPartition
    }

    public var description: String {
        var text = "Kafka: \(operation) failed: \(message) [\(code)]"
        if isFatal { text += " (fatal: recreate the client)" }
        return text
    }

    /// A librdkafka error code, printable by name.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        /// librdkafka's symbolic name, e.g. `_MSG_TIMED_OUT` or `TOPIC_ALREADY_EXISTS`.
        public var name: String {
            String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue)))
        }
        public var description: String { "\(name) (\(rawValue))" }

        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        /// The librdkafka the process runs is older than Pumphouse was built against.
        public static let unsupportedLibrary = Code(RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let messageSizeTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        /// A consumer's offset is outside the log and `auto.offset.reset` is `error`.
        public static let autoOffsetReset = Code(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
    }
}

extension KafkaError {
    /// Wraps a plain librdkafka response code.
    init(_ err: rd_kafka_resp_err_t, operation: String, detail: String? = nil, topicPartition: KafkaTopicPartition? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(
            code: Code(err),
            message: detail.map { "\($0): \(text)" } ?? text,
            operation: operation,
            topicPartition: topicPartition
        )
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, operation: String) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: String(cString: rd_kafka_error_string(error)),
            operation: operation,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0
        )
    }

    static func invalidArgument(_ message: String, operation: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: message, operation: operation)
    }
}
