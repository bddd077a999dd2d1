import Foundation
import Logging
@testable import PumphouseUnit
import Testing

/// The unit's own threads carry their names, so `top -H`, perf and the on-sale's
/// per-thread split attribute their CPU (Linux keeps at most 15 bytes of a name and
/// refuses a longer one outright).
@Suite("The unit's threads are named", .timeLimit(.minutes(1)))
struct ThreadNameTests {
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .newlines) }
    }

    static func awaitThread(named name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !threadNames().contains(name) {
            try #require(ContinuousClock.now < deadline, "no thread named \(name) among \(threadNames())")
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("the pump's sending thread is pumphouse-send, the spool's pumphouse-spool (Foundation's naming missed one start in three)")
    func named() async throws {
        let sender = LaneSender(lanes: [], health: DataPump.ProducerHealth(), logger: quietLogger)
        defer { sender.stop() }
        try await Self.awaitThread(named: "pumphouse-send")
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory.path), logger: quietLogger)
        try await Self.awaitThread(named: "pumphouse-spool")
        try await spool.close()
    }
}
