import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the integration tests find the real broker and PostgreSQL started by
/// `deploy/local/stack up` (`make test` does that and exports these variables).
public enum TestStack {
    public static var kafkaBrokers: String { required("PUMPHOUSE_KAFKA_BROKERS") }
    public static var postgresURL: String { required("PUMPHOUSE_POSTGRES_URL") }

    /// A name no other test or run uses, so tests can share one broker and database.
    /// A suite with `.removingWhatItMakes` removes what is named with it when it ends.
    public static func uniqueName(_ prefix: String) -> String {
        let suffix = (0..<8).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! }
        let name = "\(prefix)_\(String(suffix))"
        MadeNames.current?.record(name)
        return name
    }

    private static func required(_ name: String) -> String {
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
            preconditionFailure("\(name) is not set: run the tests with `make test`, or `eval \"$(deploy/local/stack env)\"` after `deploy/local/stack up`")
        }
        return value
    }
}

/// A bounded wait that fails with a message instead of hanging.
public struct WaitTimeout: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// Repeats `step` until it returns a value, for at most `timeout`.
public func waitFor<T>(
    _ what: String,
    timeout: Duration,
    _ step: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if let value = try await step() { return value }
    }
    throw WaitTimeout(description: "timed out after \(timeout) waiting for \(what)")
}

extension TestStack {
    /// Runs a `deploy/local/stack` command (`broker-stop`, `postgres-start`, ...) for the
    /// outage scenarios, which take a part of the shared stack away and bring it back.
    public static func control(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(PumphouseProcess.repository)/deploy/local/stack")
        process.arguments = [command]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StackCommandFailed(description: "deploy/local/stack \(command) exited \(process.terminationStatus)")
        }
    }
}

public struct StackCommandFailed: Error, CustomStringConvertible {
    public let description: String
}

extension TestStack {
    /// Whether `make test` (or `deploy/local/stack env`) has given the tests a broker
    /// and a database.
    public static var isAvailable: Bool {
        let names = ["PUMPHOUSE_KAFKA_BROKERS", "PUMPHOUSE_POSTGRES_URL"]
        return names.allSatisfy { name in getenv(name).map { $0.pointee != 0 } ?? false }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs a suite or test only against the local stack; without it `swift test` skips
    /// it with this line and runs the pure tests.
    public static var localStack: Self {
        .enabled(if: TestStack.isAvailable, "needs the local broker and PostgreSQL: run `make test`, or `eval \"$(deploy/local/stack env)\"` after `deploy/local/stack up`")
    }
}
