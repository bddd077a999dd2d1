import PumphouseTestSupport
import PumphouseWriter
import Testing

/// Fault scenario 3 (docs/reliability.md). It stops the shared PostgreSQL, so `make test`
/// and `make soak` run it alone.
@Suite("Fault: PostgreSQL stopped under load", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(ScenarioForm.current.pick(short: 5, soak: 30))))
struct PostgresOutageTests {
    @Test("PostgreSQL stopped for 15 s while contracts keep coming: the writer pauses and retries, dead-letters nothing, and converges to every change once")
    func postgresStopped() async throws {
        let form = ScenarioForm.current
        let (contracts, outages) = form.pick(short: (6_000, 1), soak: (60_000, 3))
        let outage = Duration.seconds(15)
        let fixture = try await WriterFixture(partitions: 3)
        let workload = try FaultWorkload(topic: fixture.topic, contracts: contracts, seed: 3)
        let total = Int64(workload.messages.count)
        // A part before the outages, one during each, one after.
        let parts = workload.messages.chunked(into: outages + 2)
        try await fixture.publish(parts[0])

        let writer = try fixture.writer()
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        _ = try await waitFor("the writer to apply the first part", timeout: .seconds(120)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            return writer.statistics.consumed >= parts[0].count ? true : nil
        }

        var lastOutageEnd = ContinuousClock.now
        do {
            for index in 1...outages {
                try TestStack.control("postgres-stop")
                let started = ContinuousClock.now
                let retriesBefore = writer.statistics.retries
                try await fixture.publish(parts[index])
                // Not ready is what /readyz serves: the writer says it is paused.
                _ = try await waitFor("the writer to retry and report itself not ready", timeout: outage) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(50))
                    return writer.statistics.retries > retriesBefore && !writer.readiness.isReady ? true : nil
                }
                // The outage's length is the scenario's, not a wait for an event.
                try await Task.sleep(until: started + outage, clock: .continuous)
                try TestStack.control("postgres-start")
                lastOutageEnd = ContinuousClock.now
            }
        } catch {
            // Never leave the shared database stopped for the tests that follow.
            try? TestStack.control("postgres-start")
            throw error
        }
        try await fixture.publish(parts[outages + 1])
        // The test's own session was cut by the outage: its first statement after fails,
        // and it reconnects for the next.
        try await workload.finish(fixture, scenario: "3 PostgreSQL down 15 s", runs: outages, faultEnded: lastOutageEnd, timeout: .seconds(form.pick(short: 120, soak: 600))) {
            (try? await fixture.committedOffsets()) == total
        }
        running.cancel()
        _ = await running.result
        #expect(writer.statistics.deadLettered == 0, "an outage must not turn a good contract into a dead letter")
        #expect(writer.statistics.retries > 0)
    }

    @Test("PostgreSQL stopped while the group hands the writer its partitions: it retries the claim instead of stopping, and applies every change once PostgreSQL is back")
    func postgresStoppedDuringClaim() async throws {
        let fixture = try await WriterFixture(partitions: 3)
        let workload = try FaultWorkload(topic: fixture.topic, contracts: 1_000, seed: 5)
        let total = Int64(workload.messages.count)
        try await fixture.publish(workload.messages)
        let writer = try fixture.writer()
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        // Subscribed, its catalog checked; the group's first join takes seconds on the
        // local broker, so the claim comes after PostgreSQL has stopped.
        _ = try await waitFor("the writer to subscribe", timeout: .seconds(60)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(2))
            return writer.statistics.state == .consuming ? true : nil
        }
        do {
            try TestStack.control("postgres-stop")
            _ = try await waitFor("the writer to retry its claim and report itself not ready", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(20))
                let statistics = writer.statistics
                if statistics.state == .stopped { throw WriterStopped(reason: statistics.stateReason) }
                return statistics.state == .retrying && statistics.stateReason.contains("claim") && !writer.readiness.isReady ? true : nil
            }
            #expect(writer.statistics.assignedPartitions == 0, "nothing is assigned before it is claimed")
            try TestStack.control("postgres-start")
        } catch {
            // Never leave the shared database stopped for the tests that follow.
            try? TestStack.control("postgres-start")
            throw error
        }
        _ = try await waitFor("the writer to apply all \(total) contracts", timeout: .seconds(120)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            if writer.statistics.state == .stopped { throw WriterStopped(reason: writer.statistics.stateReason) }
            return (try? await fixture.committedOffsets()) == total ? true : nil
        }
        let (lost, duplicated) = try await workload.verify(fixture)
        #expect(lost == 0 && duplicated == 0, "audited balances show \(lost) lost and \(duplicated) doubled change(s)")
        #expect(writer.statistics.deadLettered == 0)
        #expect(writer.statistics.assignedPartitions == 3)
        running.cancel()
        _ = await running.result
    }

    struct WriterStopped: Error, CustomStringConvertible {
        let reason: String
        var description: String { "the writer stopped: \(reason)" }
    }
}
