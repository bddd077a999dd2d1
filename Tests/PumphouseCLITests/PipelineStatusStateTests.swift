import Testing

@testable import PumphouseCLI

/// The member state `pumphouse status` prints and puts in its JSON.
@Suite("pumphouse status: a member's state")
struct PipelineStatusStateTests {
    @Test("a member is loading, loaded, or leaving once it hands its partitions over to stop; the table and the JSON say the same")
    func states() {
        func member(_ id: String, loaded: Bool, leaving: Bool) -> PipelineStatus.Member {
            PipelineStatus.Member(id: id, address: "10.0.0.1:8080", loaded: loaded, leaving: leaving, since: 1, lastHeard: 2, unacknowledged: 0)
        }
        let members = [member("u-1", loaded: false, leaving: false), member("u-2", loaded: true, leaving: false), member("u-3", loaded: true, leaving: true)]
        #expect(members.map(\.state) == ["loading", "loaded", "leaving"])
        let status = PipelineStatus(
            memberTopic: "pumphouse.members", memberTimeoutMilliseconds: 5000, observedAt: 3,
            caches: [PipelineStatus.Cache(name: "bench.Account", topic: "bench.account", mode: .partitioned(backups: 1), members: members)], writers: [],
            deadLetters: [], sequenceGaps: [], readerGroup: "pumphouse.readers", requestTopic: "pumphouse.requests", readers: [], problems: []
        )
        let row = status.text.split(separator: "\n").first { $0.contains("u-3") }.map { $0.split(separator: " ").map(String.init) }
        #expect(row?.contains("leaving") == true, "\(status.text)")
        guard case .object(let root) = status.json, case .array(let caches)? = root["caches"], case .object(let cache)? = caches.first,
              case .array(let listed)? = cache["members"]
        else {
            Issue.record("no members in \(status.json)")
            return
        }
        let states = listed.compactMap { entry -> String? in
            guard case .object(let object) = entry else { return nil }
            return object["state"]?.stringValue
        }
        #expect(states == ["loading", "loaded", "leaving"])
    }
}
