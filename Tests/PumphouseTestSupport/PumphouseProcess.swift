import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built `pumphouse` executable (or the sample's `ticketing`), run as a user or an
/// operator would.
public enum PumphouseProcess {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func make(_ executable: String = "pumphouse", _ arguments: [String], environment extra: [String: String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(repository)/.build/debug/\(executable)")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repository)
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        return process
    }

    /// Runs to completion within `limit`, or kills it and throws: a command that must end
    /// by itself and hangs is a failure, not a stuck suite. Output goes through files, not
    /// pipes: a child that fills one pipe while the reader waits on the other would
    /// deadlock, and many runs can proceed side by side without a thread blocked on each.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], executable: String = "pumphouse", within limit: Duration = .seconds(120)
    ) async throws -> (status: Int32, output: String, errors: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pumphouse-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = make(executable, arguments, environment: environment)
        for (name, assign) in [("out", { process.standardOutput = $0 }), ("err", { process.standardError = $0 })] as [(String, (FileHandle) -> Void)] {
            guard FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: nil) else { throw CocoaError(.fileWriteUnknown) }
            assign(try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/\(name)")))
        }
        let exited = AsyncStream<Void> { continuation in
            process.terminationHandler = { _ in continuation.finish() }
        }
        try process.run()
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: limit)
            kill(pid, SIGKILL)
        }
        // A test cancelled by its time limit kills the child too, and waits for it: its
        // status cannot be read while it runs, and it must not outlive the test.
        await withTaskCancellationHandler {
            for await _ in exited {}
        } onCancel: {
            kill(pid, SIGKILL)
        }
        watchdog.cancel()
        if Task.isCancelled {
            process.waitUntilExit()
            throw CancellationError()
        }
        let output = try String(contentsOfFile: "\(directory)/out", encoding: .utf8)
        let errors = try String(contentsOfFile: "\(directory)/err", encoding: .utf8)
        if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL {
            throw WaitTimeout(description: "\(executable) \(arguments.joined(separator: " ")) did not exit within \(limit); its stderr:\n\(errors)")
        }
        return (process.terminationStatus, output, errors)
    }

    /// Starts it in the background, its output discarded or written to `log`; the caller
    /// stops it.
    public static func start(_ arguments: [String], environment: [String: String] = [:], log: String? = nil) throws -> Process {
        let process = make("pumphouse", arguments, environment: environment)
        if let log {
            guard FileManager.default.createFile(atPath: log, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }
}
