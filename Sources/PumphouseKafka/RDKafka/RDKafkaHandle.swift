import CRDKafka
import Logging
import Synchronization

/// Set once the process has logged which librdkafka it runs with.
private let runtimeVersionLogged = Atomic<Bool>(false)

/// Owns one `rd_kafka_t` and the Swift object its C callbacks reach through the opaque
/// pointer. The callback target must outlive the handle, so the handle keeps it.
///
/// librdkafka handles are thread-safe; the few calls that are not are confined by the
/// owning client, which is why this wrapper may be shared across tasks.
final class RDKafkaHandle: @unchecked Sendable {
    enum Kind {
        case producer
        case consumer
    }

    let pointer: OpaquePointer
    let callbacks: RDKafkaCallbacks

    /// Creates the handle; `configure` installs kind-specific callbacks on the conf.
    init(
        kind: Kind,
        properties: [String: String],
        callbacks: RDKafkaCallbacks,
        operation: String,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        Self.logRuntimeVersionOnce(callbacks.logger)
        let conf = try RDKafkaConfig.make(properties, operation: operation)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdkafkaErrorCallback)
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = String(cBuffer: errorText)
            throw KafkaError.invalidArgument(reason, operation: operation)
        }
        self.pointer = handle
        self.callbacks = callbacks
    }

    deinit {
        rd_kafka_destroy(pointer)
    }

    /// The runtime librdkafka decides whether a broker handshake works at all, so the
    /// first client of a process says which one it got.
    private static func logRuntimeVersionOnce(_ logger: Logger) {
        guard !runtimeVersionLogged.exchange(true, ordering: .relaxed) else { return }
        let metadata: Logger.Metadata = ["runtime": "\(Librdkafka.runtimeVersion)", "compiled": "\(Librdkafka.compiledVersion)"]
        if Librdkafka.isRuntimeRecommended {
            logger.info("librdkafka \(Librdkafka.runtimeVersion)", metadata: metadata)
        } else {
            logger.warning(
                "librdkafka \(Librdkafka.runtimeVersion) is older than 2.3 and fails the handshake with some brokers; put a newer librdkafka.so.1 on LD_LIBRARY_PATH (deploy/local/stack env does)",
                metadata: metadata
            )
        }
    }

    /// The fatal error that made this instance unusable, if any.
    func fatalCondition(operation: String) -> KafkaError? {
        Self.fatalCondition(pointer, operation: operation)
    }

    static func fatalCondition(_ pointer: OpaquePointer, operation: String) -> KafkaError? {
        var text = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(pointer, &text, text.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let reason = String(cBuffer: text)
        return KafkaError(code: .init(code), message: reason, operation: operation, isFatal: true)
    }
}

/// The Swift side of librdkafka's callbacks. Subclasses add producer or consumer
/// behaviour; the base logs and keeps the latest client-level error.
class RDKafkaCallbacks: @unchecked Sendable {
    let logger: Logger
    private let repeats = RepeatSuppressor(window: .seconds(30))

    init(logger: Logger) {
        self.logger = logger
    }

    /// A client-level error (broker down, authentication failed, fatal). librdkafka keeps
    /// retrying transient ones by itself; they are reported so outages are visible.
    func clientError(_ error: KafkaError) {
        log(error.isFatal ? .error : .warning, "\(error)")
    }

    /// Logs, but a line repeated within the window is counted instead of printed: while a
    /// broker is down librdkafka reports every reconnect attempt, several per second.
    func log(_ level: Logger.Level, _ message: String) {
        guard logger.logLevel <= level, let line = repeats.admit(message) else { return }
        logger.log(level: level, "\(line)")
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbacks? {
        opaque.map { Unmanaged<RDKafkaCallbacks>.fromOpaque($0).takeUnretainedValue() }
    }
}

private let rdkafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, text in
    guard let handle, let callbacks = RDKafkaCallbacks.from(rd_kafka_opaque(handle)) else { return }
    let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")"
    let mapped: Logger.Level = switch level {
    case ...3: .error
    case 4: .warning
    case 5: .notice
    case 6: .info
    default: .debug
    }
    callbacks.log(mapped, message)
}

private let rdkafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, code, reason, opaque in
    guard let callbacks = RDKafkaCallbacks.from(opaque) else { return }
    let err = rd_kafka_resp_err_t(rawValue: code)
    callbacks.clientError(
        KafkaError(
            code: .init(err),
            message: reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err)),
            operation: "client connection",
            isRetriable: err != RD_KAFKA_RESP_ERR__FATAL,
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL
        )
    )
}
