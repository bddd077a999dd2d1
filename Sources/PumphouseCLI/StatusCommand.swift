import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import Synchronization

/// `pumphouse status`: what an operator asks first when something looks wrong: who
/// holds each cache, how far behind the writers are, what was dead-lettered, whether
/// readers run. It only reads (the member topic, watermarks, the writers' ledger), so it
/// is safe to run at any time and from anywhere that reaches the broker and PostgreSQL.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the pipeline's members per cache, writer lag per partition, dead letters and readers.",
        discussion: """
            Members and readers come from the member topic's announcements of the last \
            --member-timeout-ms; lag is each partition's high watermark minus the offset its \
            writer stored in PostgreSQL. Exit 0 when everything was read, 1 when a service did \
            not answer within --timeout-s or something was missing (named with the fix), 2 on bad usage.
            """
    )

    @OptionGroup var pipeline: PipelineOptions

    @Flag(help: "Print one JSON object instead of tables (keys: docs/operations.md).")
    var json = false

    @Option(help: "Milliseconds without an announcement after which a unit or reader no longer counts as running (the units' default is 5000).")
    var memberTimeoutMs = 5000

    @Option(help: "Seconds to read everything before giving up, naming the service that did not answer.")
    var timeoutS = 10

    @Option(help: "Seconds to watch the units of each replicated cache for its collision forecast (0: none).")
    var collisionWindowS = 2

    func validate() throws {
        guard (1...3_600_000).contains(memberTimeoutMs) else { throw ValidationError("--member-timeout-ms must be from 1 to 3600000 milliseconds, not \(memberTimeoutMs)") }
        guard (1...3_600).contains(timeoutS) else { throw ValidationError("--timeout-s must be between 1 and 3600 seconds") }
        guard (0...60).contains(collisionWindowS) else { throw ValidationError("--collision-window-s must be between 0 and 60 seconds, not \(collisionWindowS)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        var logger = Logger(label: "pumphouse.status")
        // The error printed at the end names what failed; client chatter on the way
        // (retries against a broker that is down) would bury it.
        logger.logLevel = .critical
        let timeout = Duration.seconds(timeoutS)
        let probe = StatusProbe(
            configuration: configuration, file: pipeline.config, memberTimeout: .milliseconds(memberTimeoutMs),
            deadline: .now.advanced(by: timeout), logger: logger
        )
        // A service that does not answer ends as ServiceUnreachable: one error line, exit 1.
        var status = try await Self.bounded(by: timeout + .seconds(2)) { try await probe.read() }
        let replicated = configuration.caches.filter { !$0.mode.isPartitioned }
        if collisionWindowS > 0, status.caches.contains(where: { cache in !cache.members.isEmpty && replicated.contains { $0.contract.rawValue.isSameBytes(as: cache.name) } }) {
            let window = Duration.seconds(collisionWindowS)
            status.collisionPlans = await CollisionPlan.measure(replicated, in: status, window: window, interval: window, assumedLatencyMs: nil)
        }
        if json {
            try printJSON(status.json)
        } else {
            print(status.text)
        }
        if !status.problems.isEmpty { throw ExitCode(1) }
    }

    /// Runs `body` but returns by `limit` even if a blocking call inside it does not:
    /// each step has its own bound, and this is the promise that the command ends.
    static func bounded<T: Sendable>(by limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let first = FirstOutcome<T>()
        return try await withCheckedThrowingContinuation { continuation in
            first.wait(continuation)
            Task {
                do { first.finish(.success(try await body())) } catch { first.finish(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: limit)
                first.finish(.failure(ServiceUnreachable(description: "no answer within \(limit) from the broker or PostgreSQL; run `pumphouse check` to see which")))
            }
        }
    }
}

/// Resumes a continuation with whichever outcome comes first.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func finish(_ result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}
