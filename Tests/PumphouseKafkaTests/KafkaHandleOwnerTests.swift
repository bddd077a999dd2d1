import Foundation
import Logging
import PumphouseKafka
import PumphouseTestSupport
import Synchronization
import Testing

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif

/// rd_kafka_destroy blocks (it joins librdkafka's threads; a consumer leaves its group
/// first), so it must run on the handle's own thread, never where the last reference to
/// a client happens to drop: here, a task on Swift's cooperative pool.
@Suite("librdkafka handles are destroyed on their own thread", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct KafkaHandleOwnerTests {
    enum Client: String, CaseIterable, CustomTestStringConvertible {
        case producer
        case closedConsumer
        case droppedConsumer
        case admin

        var testDescription: String { rawValue }

        /// The handle kind as the destroy names it, and as the thread is named.
        var kind: String {
            switch self {
            case .producer: "producer"
            case .closedConsumer, .droppedConsumer: "consumer"
            case .admin: "admin"
            }
        }

        /// Creates the client, uses it for a blocking call or two, and returns it.
        func makeAndUse(topic: String, logger: Logger) async throws -> AnyObject {
            switch self {
            case .producer:
                var configuration = KafkaProducerConfiguration(connection: TestCluster.connection)
                configuration.linger = .milliseconds(1)
                let producer = try KafkaProducer(configuration: configuration, logger: logger)
                _ = try await producer.deliver(KafkaProducerMessage(topic: topic, key: "k", value: "v"))
                return producer
            case .closedConsumer, .droppedConsumer:
                let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: TestCluster.connection), logger: logger)
                try await consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: .beginning)])
                _ = try await consumer.poll(timeout: .milliseconds(200))
                if self == .closedConsumer { try await consumer.close() }
                return consumer
            case .admin:
                let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: TestCluster.connection), logger: logger)
                _ = try await admin.describeTopic(topic)
                return admin
            }
        }
    }

    @Test("a client whose last reference drops in a task is destroyed on its handle's thread", arguments: Client.allCases)
    func destroyedOffTheCooperativePool(client: Client) async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let log = ThreadedLog()
        let logger = log.logger("pumphouse.tests.handle-owner")
        let dropper = try await Task.detached {
            let used = try await client.makeAndUse(topic: topic, logger: logger)
            // No suspension from here on: the reference is released on this thread.
            return withExtendedLifetime(used) { ThreadedLog.ThreadIdentity.current }
        }.value

        let destroyed = try await log.first(containing: "destroying the librdkafka \(client.kind) handle", within: .seconds(30))
        #expect(destroyed.thread.name == "kafka-\(client.kind)", "destroyed on \(destroyed.thread), dropped on \(dropper)")
        #expect(destroyed.thread.id != dropper.id, "destroyed on the thread that dropped the last reference (\(dropper))")
        let destroys = log.lines.filter { $0.message.contains("destroying the librdkafka") }
        #expect(destroys.count == 1, "\(destroys.map(\.message))")
    }
}

/// Log lines with the thread each came from, and a bounded wait for a line to come.
final class ThreadedLog: Sendable {
    struct ThreadIdentity: Sendable, CustomStringConvertible {
        let id: UInt
        let name: String

        static var current: ThreadIdentity {
            #if canImport(Darwin)
            let id = UInt(bitPattern: pthread_self())
            #else
            let id = UInt(pthread_self())
            #endif
            return ThreadIdentity(id: id, name: Thread.current.name ?? "")
        }

        var description: String { "thread \"\(name)\" (\(id))" }
    }

    struct Line: Sendable {
        let message: String
        let thread: ThreadIdentity
    }

    private struct State {
        var lines: [Line] = []
        var waiter: (text: String, continuation: CheckedContinuation<Line, any Error>)?
    }

    private let state = Mutex(State())

    var lines: [Line] { state.withLock { $0.lines } }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in RecordingLogHandler { [self] event in record(event.message.description) } }
        logger.logLevel = .debug
        return logger
    }

    /// The first line containing `text`, waiting up to `timeout` for it to be logged.
    func first(containing text: String, within timeout: Duration) async throws -> Line {
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            waiter?.resume(throwing: WaitTimeout(description: "no log line containing \"\(text)\" within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let logged: Line? = state.withLock { state in
                if let line = state.lines.first(where: { $0.message.contains(text) }) { return line }
                state.waiter = (text, continuation)
                return nil
            }
            if let logged { continuation.resume(returning: logged) }
        }
    }

    private func record(_ message: String) {
        let line = Line(message: message, thread: .current)
        let waiter: CheckedContinuation<Line, any Error>? = state.withLock { state in
            state.lines.append(line)
            guard let waiter = state.waiter, message.contains(waiter.text) else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: line)
    }
}
