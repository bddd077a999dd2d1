import Foundation
import Logging
import PumphouseKafka
import Synchronization
import Testing

@testable import PumphouseUnit

/// A caller waiting for the broker to acknowledge its change gives up at its timeout:
/// one task (``DeadlineSweeper``) sweeps every wait's deadline while any wait, and starts
/// again for a wait that comes after it ended. No broker listens here, so nothing is
/// ever acknowledged.
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
            let published = try pump.publish(to: lane) { sequence in SpoolFrame(sequence: sequence, topic: "t", key: "k", value: Array("{}".utf8), headers: []) }
            pump.send(lane, published.claim)
            return published.number
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
        while pump.deadlines.isSweeping {
            try #require(ContinuousClock.now < deadline, "the sweeping task still runs 10 s after every wait ended")
            try await Task.sleep(for: .milliseconds(5))
        }
        let later = try publish(lanes[0])
        let laterStarted = ContinuousClock.now
        #expect(await pump.acknowledgement(of: later, in: lanes[0], timeout: .milliseconds(100)) == false)
        #expect(ContinuousClock.now - laterStarted >= .milliseconds(100))

        // A cancelled caller stops waiting at once, not at its timeout: already cancelled
        // when it asks, or cancelled while it waits.
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await pump.acknowledgement(of: later, in: lanes[0], timeout: .seconds(30))
        }
        #expect(await cancelledFirst.value == false)
        let (waiting, nowWaiting) = AsyncStream<Void>.makeStream()
        let cancelledWhileWaiting = Task {
            nowWaiting.yield()
            return await pump.acknowledgement(of: later, in: lanes[0], timeout: .seconds(30))
        }
        for await _ in waiting { break }
        let cancelledAt = ContinuousClock.now
        cancelledWhileWaiting.cancel()
        #expect(await cancelledWhileWaiting.value == false)
        #expect(ContinuousClock.now - cancelledAt < .seconds(10), "the cancelled wait ended at once, not at its 30 s timeout")
        await pump.close(timeout: .milliseconds(100))
    }

    @Test("a closed pump lets its producer go: nothing keeps the librdkafka handle alive, so a stopping process need not wait out the destroy timeout")
    func closedPumpFreesItsProducer() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pump-close-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "pump-close-test") { _ in SwiftLogNoOpLogHandler() }
        weak var producer: KafkaProducer?
        do {
            let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory), logger: logger)
            let pump = try DataPump(
                origin: "closer", spool: spool, partitioners: ["t": KafkaKeyPartitioner(partitionCount: 2)],
                kafka: KafkaConnectionConfiguration(brokers: "127.0.0.1:1"), logger: logger, metrics: UnitMetrics(unit: "closer")
            )
            let lane = try #require(pump.lanes(of: "t")?.first)
            producer = lane.state.withLock { $0.producer }
            #expect(producer != nil)
            await pump.close(timeout: .milliseconds(50))
        }
        #expect(producer == nil, "the closed pump's producer is still referenced (by its own reports' lanes)")
    }

    @Test("a sweeper runs each expiry once its deadline passed, never a cancelled one, stops when nothing is left and starts again")
    func sweeper() async throws {
        let sweeper = DeadlineSweeper(interval: .milliseconds(5))
        let fired = Mutex<[Int: ContinuousClock.Instant]>([:])
        let started = ContinuousClock.now
        let offsets: [Duration] = [.milliseconds(40), .milliseconds(10), .milliseconds(25)]
        var tokens: [DeadlineSweeper.Token] = []
        for (index, offset) in offsets.enumerated() {
            tokens.append(sweeper.schedule(at: started + offset) { fired.withLock { $0[index] = .now } })
        }
        sweeper.cancel(tokens[2])
        let deadline = ContinuousClock.now + .seconds(10)
        while sweeper.isSweeping {
            try #require(ContinuousClock.now < deadline, "the sweeper still runs 10 s after its last deadline")
            try await Task.sleep(for: .milliseconds(5))
        }
        let times = fired.withLock { $0 }
        #expect(Set(times.keys) == [0, 1], "the cancelled expiry never runs, the others once")
        for (index, time) in times { #expect(time >= started + offsets[index], "expiry \(index) ran before its deadline") }

        let again = ContinuousClock.now
        _ = sweeper.schedule(at: again + .milliseconds(10)) { fired.withLock { $0[3] = .now } }
        while fired.withLock({ $0[3] }) == nil {
            try #require(ContinuousClock.now < again + .seconds(10), "a deadline scheduled after the sweeper stopped never expired")
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
