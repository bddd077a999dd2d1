import Foundation
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import Testing

/// Stops the shared local broker, so `make test` runs this suite alone, after the rest.
@Suite("Broker outage under load", .serialized, .timeLimit(.minutes(4)))
struct BrokerOutageTests {
    @Test("the broker stopped for 10 s mid-load: units keep serving, nothing is lost, replicas and PostgreSQL converge")
    func brokerStopped() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let units = try ["a", "b", "c"].map { try fixture.unit($0, heartbeat: .seconds(1)) }
        let caches = try units.map { try $0.cache(BenchAccount.self) }
        var expected: [String: Int64] = [:]
        try await running(units) {
            var step = 0
            func load(_ count: Int) throws {
                for _ in 0..<count {
                    step += 1
                    // Each key is changed by one unit, so no change waits on replication.
                    try caches[(step % 40) % 3].openOrIncrement("acc-\(step % 40)", opening: 0, expected: &expected)
                }
            }
            try load(300)
            try TestStack.control("broker-stop")
            // Ten seconds without a broker, changes keep coming and are served locally.
            let outage = ContinuousClock.now
            while ContinuousClock.now - outage < .seconds(10) {
                try load(50)
                try await Task.sleep(for: .milliseconds(100))
            }
            // Reads during the outage are local: the owning unit sees its latest change.
            #expect(caches[1]["acc-1"]?.balance == expected["acc-1"])
            try TestStack.control("broker-start")
            try load(300)
            var differences: [String] = []
            do {
                _ = try await waitFor("every replica to hold every change", timeout: .seconds(90)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(200))
                    differences = caches.enumerated().flatMap { index, cache in
                        let held = Dictionary(uniqueKeysWithValues: cache.values.map { ($0.id, $0.balance) })
                        return expected.keys.sorted().filter { held[$0] != expected[$0] }.map { "unit \(index) \($0): \(held[$0].map(String.init) ?? "absent") not \(expected[$0]!)" }
                    }
                    return differences.isEmpty ? true : nil
                }
            } catch {
                Issue.record("replicas differ from what was written: \(differences.prefix(6).joined(separator: "; "))")
                throw error
            }
        }
        try await fixture.awaitWritten(expected, timeout: .seconds(90))
    }

    @Test("a unit process killed (SIGKILL) while the broker is away resends its spool on restart: every change it made arrives once")
    func killedWhileBrokerAway() async throws {
        let fixture = try await UnitFixture(partitions: 2)
        try await fixture.prepare()
        let peer = try fixture.unit("peer", heartbeat: .seconds(1))
        let accounts = try peer.cache(BenchAccount.self)
        let id = "\(fixture.name)-killed"
        let arguments = [
            "unit", "--config", "\(fixture.directory)/pipeline.yaml", "--id", id, "--spool-directory", "\(fixture.directory)/spool",
        ]
        try await running([peer]) {
            let first = try PumphouseProcess.start(arguments + ["--rate", "200", "--keys", "25"])
            defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
            _ = try await waitFor("the unit process's changes on the peer", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return accounts.count > 0 ? true : nil
            }
            try TestStack.control("broker-stop")
            // Three seconds of changes with nowhere to go but the spool, then the kill.
            try await Task.sleep(for: .seconds(3))
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            try TestStack.control("broker-start")
            let log = "\(fixture.directory)/restarted.log"
            let second = try PumphouseProcess.start(arguments, log: log)
            defer { kill(second.processIdentifier, SIGTERM) }
            // Its first run numbered changes from 2^20 on, with no gap; the last it spooled
            // is in the restart's log line.
            let last = try await waitFor("the restarted unit to resend its spool", timeout: .seconds(60)) { () -> Int64? in
                try await Task.sleep(for: .milliseconds(50))
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                guard let line = text.split(separator: "\n").first(where: { $0.contains("left in the spool by the previous run") }),
                      let range = line.range(of: " to ") else { return nil }
                return Int64(line[range.upperBound...].prefix { $0.isNumber })
            }
            let made = last - (1 << 20) + 1
            #expect(made > 300, "three seconds at 200 changes/s should have left hundreds in the spool")
            // Each change opened an account (balance 0) or added 1 to one: on the peer,
            // accounts plus the sum of balances counts the changes applied, each once.
            var applied: Int64 = 0
            do {
                _ = try await waitFor("all \(made) changes on the peer, each once", timeout: .seconds(90)) { () -> Bool? in
                    try await Task.sleep(for: .milliseconds(100))
                    applied = Int64(accounts.count) + accounts.values.reduce(0) { $0 + $1.balance }
                    return applied == made ? true : nil
                }
            } catch {
                Issue.record("the peer applied \(applied) changes of the killed unit, not \(made)")
                throw error
            }
        }
        try await fixture.awaitWritten(Dictionary(uniqueKeysWithValues: accounts.values.map { ($0.id, $0.balance) }), timeout: .seconds(90))
    }
}
