import Foundation
import Logging
import PumphouseKafka
import Testing

@testable import PumphouseUnit

/// A caller waiting for the broker to acknowledge its change gives up at its timeout:
/// one task sweeps every waiter's deadline while any wait, and starts again for a wait
/// that comes after it ended. No broker listens here, so nothing is ever acknowledged.
@Suite("Waits for a change's acknowledgement", .timeLimit(.minutes(1)))
struct AcknowledgementWaitTests {
    @Test("waits with different timeouts each end unacknowledged, none before its timeout; a wait after the sweeping ended ends too")
    func timeouts() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ack-wait-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "ack-wait-test") { _ in SwiftLogNoOpLogHandler() }
        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory), logger: logger)
        // Port 1: refused at once, so the producer keeps every change unacknowledged.
        let pump = try DataPump(
            origin: "waiter", spool: spool, partitioners: ["t": KafkaKeyPartitioner(partitionCount: 2)],
            kafka: KafkaConnectionConfiguration(brokers: "127.0.0.1:1"), logger: logger, metrics: UnitMetrics(unit: "waiter")
        )
        let lanes = try #require(pump.lanes(of: "t"))
        func publish(_ lane: DataPump.Lane) throws -> Int64 {
            try pump.publish(to: lane) { sequence in SpoolFrame(sequence: sequence, topic: "t", key: "k", value: Array("{}".utf8), headers: []) }.number
        }
        let timeouts: [Duration] = [.milliseconds(50), .milliseconds(300), .milliseconds(150)]
        let numbers = try timeouts.indices.map { try publish(lanes[$0 % lanes.count]) }
        let started = ContinuousClock.now
        let waited = await withTaskGroup(of: (Int, Bool, Duration).self) { group in
            for index in timeouts.indices {
                group.addTask {
                    let acknowledged = await pump.acknowledgement(of: numbers[index], in: lanes[index % lanes.count], timeout: timeouts[index])
                    return (index, acknowledged, ContinuousClock.now - started)
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
        }
        for index in timeouts.indices {
            let (acknowledged, after) = try #require(waited[index])
            #expect(!acknowledged, "wait \(index) heard an acknowledgement no broker gave")
            #expect(after >= timeouts[index], "wait \(index) ended after \(after), before its timeout of \(timeouts[index])")
        }

        // Every wait has ended, so the sweeping task stops; a new wait starts another.
        let deadline = ContinuousClock.now + .seconds(10)
        while pump.isSweeping {
            try #require(ContinuousClock.now < deadline, "the sweeping task still runs 10 s after every wait ended")
            try await Task.sleep(for: .milliseconds(5))
        }
        let later = try publish(lanes[0])
        let laterStarted = ContinuousClock.now
        #expect(await pump.acknowledgement(of: later, in: lanes[0], timeout: .milliseconds(100)) == false)
        #expect(ContinuousClock.now - laterStarted >= .milliseconds(100))
        await pump.close(timeout: .milliseconds(100))
    }
}
