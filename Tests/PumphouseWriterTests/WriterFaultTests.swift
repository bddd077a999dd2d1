import Foundation
import PumphouseKafka
import PumphouseTestSupport
import PumphouseWriter
import Testing

/// Fault scenarios 1 and 5 (docs/reliability.md): writers crashing and coming and going
/// under load. `make test` runs the short forms; `make soak` the long ones, and tabulates
/// what each run recorded.
@Suite("Fault: writers killed and rebalanced under load", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(ScenarioForm.current.pick(short: 5, soak: 60))))
struct WriterFaultTests {
    @Test("kill -9 of the writer process at random moments: the table equals the topic's replay and every change has exactly one effect; SIGTERM exits cleanly")
    func writerKills() async throws {
        let form = ScenarioForm.current
        let (contracts, kills) = form.pick(short: (6_000, 5), soak: (200_000, 20))
        let fixture = try await WriterFixture(partitions: 3)
        let workload = try FaultWorkload(topic: fixture.topic, contracts: contracts, seed: 99)
        let total = Int64(workload.messages.count)
        var random = SplitMix(state: 17)

        func start(run: Int) throws -> Process {
            // A fresh consumer group per run: this broker does not complete a rebalance
            // that includes a crashed member (docs/operations.md). Exactly-once does not
            // rest on the group: offsets and fencing live in PostgreSQL, per writer.
            let path = "\(fixture.directory)/pipeline-\(run).yaml"
            try WriterFixture.pipeline(name: fixture.name, topic: fixture.topic, table: fixture.table, partitions: 3, batch: 500, group: "\(fixture.name)-run\(run)")
                .write(toFile: path, atomically: true, encoding: .utf8)
            return try PumphouseProcess.start(["writer", "--config", path, "--writer", fixture.name], log: "\(fixture.directory)/writer-\(run).log")
        }

        // The workload arrives in as many parts as there are kills, each while its run
        // goes on; the run is killed once it has applied a random share of what it has to
        // apply, so kills land mid-stream, batches in flight, not on an idle writer.
        let parts = workload.messages.chunked(into: kills)
        var published = 0
        for run in 0..<kills {
            let before = try await fixture.committedOffsets()
            let process = try start(run: run)
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            let part = parts[run]
            let publishing = Task { try await fixture.publish(part) }
            published += part.count
            let target = before + Int64.random(in: 1...max(1, Int64(published) - before - 1), using: &random)
            _ = try await waitFor("writer run \(run) to apply up to offset \(target) of \(published)", timeout: .seconds(120)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(5))
                guard process.isRunning else { throw WaitTimeout(description: "writer run \(run) exited \(process.terminationStatus); see \(fixture.directory)/writer-\(run).log") }
                return try await fixture.committedOffsets() >= target ? true : nil
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try await publishing.value
        }
        let lastKill = ContinuousClock.now

        let claimed = try await fixture.claimEpochs()
        let last = try start(run: kills)
        defer { if last.isRunning { kill(last.processIdentifier, SIGKILL) } }
        // The killed runs may have applied everything already: the last run must also
        // have claimed every partition, so it is up and running when SIGTERM comes.
        try await workload.finish(fixture, scenario: "1 writer kill -9", runs: kills, faultEnded: lastKill, timeout: .seconds(form.pick(short: 120, soak: 600))) {
            let epochs = try await fixture.claimEpochs()
            guard epochs.count == 3, epochs.allSatisfy({ $0.value > claimed[$0.key, default: 0] }) else { return false }
            return try await fixture.committedOffsets() == total
        }
        if ProcessInfo.processInfo.environment["MALLOC_CONF"] == nil {
            // The writer started itself again on one allocator arena (docs/writers.md),
            // keeping its pid, so what started it still holds it.
            let environment = try String(contentsOfFile: "/proc/\(last.processIdentifier)/environ", encoding: .utf8)
            #expect(environment.split(separator: "\0").contains("MALLOC_CONF=narenas:1"), "the writer must run on one jemalloc arena unless MALLOC_CONF is set")
        }
        last.terminate()
        last.waitUntilExit()
        #expect(last.terminationStatus == 0, "SIGTERM must finish the batch and exit 0")
        let letters = try await DataWriterTests.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture)
        #expect(letters.isEmpty, "a crash must not turn a good contract into a dead letter")
    }

    @Test("writer instances joining and leaving every few seconds under load: the table equals the topic's fold and every change has exactly one effect")
    func rebalanceStorm() async throws {
        let form = ScenarioForm.current
        let (contracts, changes) = form.pick(short: (8_000, 4), soak: (100_000, 20))
        let partitions = 4
        let fixture = try await WriterFixture(partitions: partitions)
        let workload = try FaultWorkload(topic: fixture.topic, contracts: contracts, seed: 11)
        let total = Int64(workload.messages.count)
        var random = SplitMix(state: 23)

        // A part of the load arrives with each membership change, so every rebalance
        // happens while contracts are coming in and being applied.
        let parts = workload.messages.chunked(into: changes + 1)

        var members: [(writer: DataWriter, task: Task<Void, any Error>)] = []
        var everyone: [DataWriter] = []
        func join() throws {
            let writer = try fixture.writer()
            members.append((writer, Task { try await writer.run() }))
            everyone.append(writer)
        }
        defer { for member in members { member.task.cancel() } }
        // This broker completes joins and leaves of a settled group, not one that starts
        // while another is under way (docs/operations.md), so each change waits for the
        // group to settle: every partition owned by live members, and every member (at
        // most three, for four partitions) owning one. The second half matters: right
        // after a join the old members still own everything.
        func settled(_ what: String) async throws {
            _ = try await waitFor("the group to settle after \(what)", timeout: .seconds(90)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                let owned = members.map(\.writer.statistics.assignedPartitions)
                return owned.reduce(0, +) == partitions && !owned.contains(0) ? true : nil
            }
        }
        try await fixture.publish(parts[0])
        try join()
        try await settled("the first join")
        for step in 0..<changes {
            try await Task.sleep(for: .milliseconds(Int.random(in: 1_000...3_000, using: &random)))
            let part = parts[step + 1]
            let publishing = Task { try await fixture.publish(part) }
            // Between one and three members; leaving is graceful (a crash is scenario 1).
            if members.count == 1 || (members.count < 3 && Bool.random(using: &random)) {
                try join()
                try await settled("join \(step)")
            } else {
                let leaving = members.remove(at: Int.random(in: 0..<members.count, using: &random))
                leaving.task.cancel()
                _ = await leaving.task.result
                try await settled("leave \(step)")
            }
            try await publishing.value
        }
        let lastChange = ContinuousClock.now
        try await workload.finish(fixture, scenario: "5 rebalance storm", runs: changes, faultEnded: lastChange, timeout: .seconds(form.pick(short: 120, soak: 600))) {
            try await fixture.committedOffsets() == total
        }
        for member in members {
            member.task.cancel()
            _ = await member.task.result
        }
        #expect(everyone.map(\.statistics.deadLettered).reduce(0, +) == 0, "a rebalance must not turn a good contract into a dead letter")
    }
}

extension Array {
    /// `count` consecutive parts of nearly equal size, the earlier ones a little larger.
    func chunked(into count: Int) -> [ArraySlice<Element>] {
        let size = self.count / count
        let larger = self.count % count
        var start = startIndex
        return (0..<count).map { index in
            let end = start + size + (index < larger ? 1 : 0)
            defer { start = end }
            return self[start..<end]
        }
    }
}
