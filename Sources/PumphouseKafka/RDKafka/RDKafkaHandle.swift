import CRDKafka
import Foundation
import Logging
import NIOPosix
import PumphouseBlocking
import Synchronization

/// Set once the process has logged which librdkafka it runs with.
private let runtimeVersionLogged = Atomic<Bool>(false)

/// The one owner of an `rd_kafka_t`, and of the Swift object its C callbacks reach
/// through the opaque pointer (which must outlive the handle).
///
/// `rd_kafka_destroy` blocks: it joins librdkafka's threads and, for a consumer still in
/// its group, leaves the group first. Left to a plain `deinit` it would run wherever the
/// last reference happens to drop, often a task on Swift's cooperative pool. So each
/// handle has a thread of its own for its whole life, named after its kind: the client's
/// blocking calls run there in order, and when the owner goes, the destroy is queued
/// there behind them. Anything that uses the pointer on another thread holds the owner
/// while it does, so the destroy also comes after that.
///
/// librdkafka handles are thread-safe; the few calls that are not are confined by the
/// owning client, which is why this wrapper may be shared across tasks.
final class RDKafkaHandle: @unchecked Sendable {
    enum Kind: String {
        case producer
        case consumer
        /// A producer handle that only sends admin requests.
        case admin
    }

    let kind: Kind
    let pointer: OpaquePointer
    let callbacks: RDKafkaCallbacks
    private let thread: NIOThreadPool

    /// Creates the handle; `configure` installs kind-specific callbacks on the conf.
    init(
        kind: Kind,
        properties: [String: String],
        callbacks: RDKafkaCallbacks,
        operation: String,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        if let problem = Librdkafka.runtimeProblem {
            throw KafkaError(code: .unsupportedLibrary, message: problem, operation: operation, isFatal: true)
        }
        Self.logRuntimeVersionOnce(callbacks.logger)
        let conf = try RDKafkaConfig.make(properties, operation: operation)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdkafkaErrorCallback)
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        let type = kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = String(cBuffer: errorText)
            throw KafkaError.invalidArgument(reason, operation: operation)
        }
        self.kind = kind
        self.pointer = handle
        self.callbacks = callbacks
        self.thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        // Named so that a stack dump or `top -H` shows whose thread is blocked.
        let name = kind.threadName
        thread.submit { _ in Thread.current.name = name }
    }

    deinit {
        // Nothing but this job can shut the thread down, so it runs there, active, after
        // every call queued before it; capturing the thread keeps it until then.
        nonisolated(unsafe) let pointer = self.pointer
        let (kind, callbacks, thread) = (self.kind, self.callbacks, self.thread)
        thread.submit { _ in
            callbacks.logger.debug("destroying the librdkafka \(kind.rawValue) handle")
            callbacks.willDestroy(pointer)
            rd_kafka_destroy(pointer)
            thread.shutdownGracefully { _ in }
        }
    }

    /// Runs a blocking call on the handle's thread; a call still queued when the
    /// awaiting task is cancelled is skipped.
    func run<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await thread.runIfActive { try body(self.pointer) }
    }

    /// Runs a blocking call on the handle's thread even if the awaiting task is
    /// cancelled: for calls that end something, which must not be skipped.
    func runToCompletion<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await thread.runToCompletion(operation) { try body(self.pointer) }
    }

    /// Starts a loop on the handle's thread that ends only when `body` returns: every
    /// later call on the thread waits for it, and so does the destroy.
    func startLoop(_ body: @escaping @Sendable (OpaquePointer) -> Void) {
        thread.submit { _ in body(self.pointer) }
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

    /// Runs on the handle's thread right before it is destroyed, when no other call on
    /// it runs any more.
    func willDestroy(_ handle: OpaquePointer) {}

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

extension RDKafkaHandle.Kind {
    /// At most 15 characters: Linux truncates longer thread names.
    var threadName: String { "kafka-\(rawValue)" }
}
