import Foundation

/// The processes a demo or a benchmark starts, each logging to its own file, and ended
/// only by it: SIGKILL for an outage, SIGTERM (then SIGKILL after a bound) at the end.
/// For the samples' executables, which run the pipeline's processes side by side.
package final class DemoProcesses: @unchecked Sendable {
    private let binaries: URL
    private let logs: URL
    private let lock = NSLock()
    private var running: [String: Process] = [:]
    /// The bearer token the units started here open their non-public routes to: made
    /// afresh for each demo, and handed to them in their environment (not on the command
    /// line, which any user of the machine can read).
    package let adminToken = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()

    package init(binaries: URL, logs: URL) throws {
        self.binaries = binaries
        self.logs = logs
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    }

    /// Starts `executable` with this process's environment and `environment` on top; from
    /// `directory` instead of beside this program where given (another build of it).
    package func start(_ name: String, _ executable: String, _ arguments: [String], environment: [String: String] = [:], from directory: URL? = nil) throws {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        process.executableURL = (directory ?? binaries).appendingPathComponent(executable)
        guard FileManager.default.isExecutableFile(atPath: process.executableURL!.path) else {
            if let directory { throw DemoFailure("\(directory.path) holds no executable \(executable)") }
            throw DemoFailure("\(executable) is not built next to this program (\(binaries.path)); run `swift build -c release` first, or `make demo`")
        }
        process.arguments = arguments
        let log = logs.appendingPathComponent("\(name).log")
        // A restarted process appends to its earlier log, so both runs stay readable.
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        lock.withLock { running[name] = process }
    }

    /// Ends `names` at once with SIGKILL and waits (up to 10 s) for them to be gone.
    package func kill(_ names: [String]) async {
        let victims = lock.withLock { names.compactMap { running.removeValue(forKey: $0) } }
        for process in victims where process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        await Self.awaitExit(victims, for: .seconds(10))
    }

    /// Whether `name` exited on its own (a crash), with its status.
    package func exited(_ name: String) -> Int32? {
        lock.withLock { running[name].flatMap { $0.isRunning ? nil : $0.terminationStatus } }
    }

    /// SIGTERM to every process, SIGKILL to any still running after `grace`.
    package func stopAll(grace: Duration = .seconds(15)) async {
        await stop(lock.withLock { Array(running.keys) }, grace: grace)
    }

    /// SIGTERM to `names`, SIGKILL to any still running after `grace`.
    package func stop(_ names: [String], grace: Duration = .seconds(15)) async {
        let all = lock.withLock { names.compactMap { running.removeValue(forKey: $0) } }
        for process in all where process.isRunning { process.terminate() }
        await Self.awaitExit(all, for: grace)
        for process in all where process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// Returns once every one of `processes` has exited, or after `limit`.
    private static func awaitExit(_ processes: [Process], for limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while processes.contains(where: \.isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Returns once every one of `urls` answers /readyz with 200 (`readyz` asks one and
    /// gives its status, nil if it did not answer); throws if one of `names` exits first
    /// (naming its log), or after `timeout`.
    package func awaitReady(_ names: [String], at urls: [String], timeout: Duration, what: String, readyz: (_ url: String) async -> Int?) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            for name in names {
                if let status = exited(name) { throw DemoFailure("\(name) exited with status \(status); see \(logPath(name))") }
            }
            var ready = true
            for url in urls where await readyz(url) != 200 {
                ready = false
                break
            }
            if ready { return }
            guard ContinuousClock.now < deadline else { throw DemoFailure("timed out after \(Int(timeout / .seconds(1))) s waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The process id of `name`, while it runs.
    package func pid(_ name: String) -> Int32? {
        lock.withLock { running[name].flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    }

    package func logPath(_ name: String) -> String { logs.appendingPathComponent("\(name).log").path }
}

/// A demo step that failed: reported, and the demo exits 1 after stopping what it started.
package struct DemoFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
