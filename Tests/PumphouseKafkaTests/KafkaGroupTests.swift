import PumphouseKafka
import PumphouseTestSupport
import Synchronization
import Testing

@Suite("Kafka consumer groups against the local broker", .localStack, .removingWhatItMakes, .timeLimit(.minutes(3)))
struct KafkaGroupTests {
    @Test("committed offsets survive the consumer, and a new member resumes from them")
    func commitAndResume() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let group = TestStack.uniqueName("group")
        let producer = try TestCluster.producer()
        for index in 0..<100 {
            try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
        }
        try await producer.flush(timeout: .seconds(30))

        let first = try TestCluster.consumer(group: group)
        try await first.subscribe(topics: [topic])
        var consumed: [KafkaMessage] = []
        _ = try await waitFor("40 messages in the first member", timeout: .seconds(60)) { () -> Bool? in
            for case .messages(let batch) in try await first.poll(maxMessages: 40 - consumed.count) {
                consumed += batch
            }
            return consumed.count >= 40 ? true : nil
        }
        #expect(consumed.map(\.offset) == Array(0..<40))
        try await first.commit([consumed.last!.nextOffset])
        try await first.close()

        let second = try TestCluster.consumer(group: group)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let committed = try await second.committed([partition])
        #expect(committed == [KafkaTopicPartitionOffset(partition, offset: KafkaOffset(40))])
        try await second.subscribe(topics: [topic])
        let resumed = try await waitFor("the second member's first message", timeout: .seconds(60)) { () -> KafkaMessage? in
            for case .messages(let batch) in try await second.poll() { return batch.first }
            return nil
        }
        #expect(resumed.offset == 40)
        try await second.close()
    }

    @Test("two members share the partitions, and a rebalance loses and doubles nothing")
    func rebalance() async throws {
        let topic = try await TestCluster.createTopic(partitions: 4)
        let group = TestStack.uniqueName("group")
        let producer = try TestCluster.producer()
        let total = 2000
        func produce(_ range: Range<Int>) async throws {
            for id in range {
                try producer.send(KafkaProducerMessage(topic: topic, key: "key-\(id % 50)", value: "\(id)"))
            }
            try await producer.flush(timeout: .seconds(30))
        }
        try await produce(0..<total / 2)

        let seen = SeenIDs()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await Self.member("a", group: group, topic: topic, seen: seen) }
            _ = try await waitFor("member a to consume", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return seen.count(by: "a") > 0 ? true : nil
            }
            tasks.addTask { try await Self.member("b", group: group, topic: topic, seen: seen) }
            _ = try await waitFor("member b to be assigned partitions", timeout: .seconds(60)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return seen.partitions(of: "b").isEmpty ? nil : true
            }
            try await produce(total / 2..<total)
            _ = try await waitFor("all \(total) ids", timeout: .seconds(90)) { () -> Bool? in
                try await Task.sleep(for: .milliseconds(50))
                return seen.unique == total ? true : nil
            }
            seen.stop()
            try await tasks.waitForAll()
        }

        #expect(seen.unique == total, "lost \(total - seen.unique) message(s)")
        #expect(seen.duplicates == 0, "\(seen.duplicates) message(s) consumed twice")
        #expect(seen.count(by: "b") > 0, "the second member should take over partitions")
        #expect(!seen.partitions(of: "a").isEmpty)
    }

    /// A member that processes each batch, commits it, and only then polls again, which
    /// is when a revocation is released: so nothing it processed is read twice.
    static func member(_ name: String, group: String, topic: String, seen: SeenIDs) async throws {
        let consumer = try TestCluster.consumer(group: group)
        try await consumer.subscribe(topics: [topic])
        while !seen.stopped {
            for event in try await consumer.poll() {
                switch event {
                case .messages(let batch):
                    for message in batch { seen.add(Int(message.valueString ?? "") ?? -1, by: name) }
                    var next: [KafkaTopicPartition: KafkaTopicPartitionOffset] = [:]
                    for message in batch { next[message.topicPartition] = message.nextOffset }
                    try await consumer.commit(Array(next.values))
                case .partitionsAssigned(let partitions):
                    seen.assigned(partitions, to: name)
                default:
                    break
                }
            }
        }
        try await consumer.close()
    }
}

/// Which member saw which ids and partitions; shared by the members' tasks.
final class SeenIDs: Sendable {
    private struct State {
        var counts: [Int: Int] = [:]
        var byMember: [String: Int] = [:]
        var assigned: [String: [KafkaTopicPartition]] = [:]
        var stopped = false
    }

    private let state = Mutex(State())

    func add(_ id: Int, by member: String) {
        state.withLock {
            $0.counts[id, default: 0] += 1
            $0.byMember[member, default: 0] += 1
        }
    }

    func assigned(_ partitions: [KafkaTopicPartition], to member: String) {
        state.withLock { $0.assigned[member] = partitions }
    }

    func stop() { state.withLock { $0.stopped = true } }
    var stopped: Bool { state.withLock { $0.stopped } }
    var unique: Int { state.withLock { $0.counts.count } }
    var duplicates: Int { state.withLock { $0.counts.values.reduce(0) { $0 + $1 - 1 } } }
    func count(by member: String) -> Int { state.withLock { $0.byMember[member] ?? 0 } }
    func partitions(of member: String) -> [KafkaTopicPartition] { state.withLock { $0.assigned[member] ?? [] } }
}

@Suite("Kafka client lifecycle edge cases", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct KafkaLifecycleTests {
    @Test("after shutdown, send and deliver fail at once instead of waiting forever")
    func sendAfterShutdown() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let producer = try TestCluster.producer()
        _ = try await producer.deliver(KafkaProducerMessage(topic: topic, key: "k", value: "before"))
        try await producer.shutdown()
        let sendError = try #require(throws: KafkaError.self) { try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "after")) }
        #expect(sendError.code == .state)
        let deliverError = try await #require(throws: KafkaError.self) {
            try await producer.deliver(KafkaProducerMessage(topic: topic, key: "k", value: "after"))
        }
        #expect(deliverError.code == .state)
    }

    /// The local broker does not finish a rebalance that a member leaves mid-way (the
    /// remaining member gets no assignment; reproduced with confluent-kafka's Python
    /// client too), so this checks what the client controls: close returns.
    @Test("closing with a revocation not yet polled past returns instead of hanging")
    func closeWithPendingRevocation() async throws {
        let topic = try await TestCluster.createTopic(partitions: 2)
        let group = TestStack.uniqueName("group")
        let first = try TestCluster.consumer(group: group)
        try await first.subscribe(topics: [topic])
        _ = try await waitFor("the first member's assignment", timeout: .seconds(60)) { () -> Bool? in
            try await first.poll().contains { if case .partitionsAssigned = $0 { true } else { false } } ? true : nil
        }
        let second = try TestCluster.consumer(group: group)
        try await second.subscribe(topics: [topic])
        let secondPolling = Task {
            while !Task.isCancelled { _ = try await second.poll() }
        }
        _ = try await waitFor("the first member's revocation", timeout: .seconds(60)) { () -> Bool? in
            try await first.poll().contains { if case .partitionsRevoked = $0 { true } else { false } } ? true : nil
        }
        // The revocation is pending (released on the next poll); close instead of polling.
        try await first.close()
        secondPolling.cancel()
        _ = await secondPolling.result
        try await second.close()
    }
}
