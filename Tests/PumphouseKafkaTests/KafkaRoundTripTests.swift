import Foundation
import PumphouseKafka
import PumphouseTestSupport
import Synchronization
import Testing

@Suite("Kafka producer and consumer against the local broker", .localStack, .removingWhatItMakes, .timeLimit(.minutes(2)))
struct KafkaRoundTripTests {
    @Test("keys, values, null values and headers survive the round trip")
    func roundTrip() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let producer = try TestCluster.producer()
        let headers = [
            KafkaHeader(name: "ph-contract", string: "ticketing.Seat"),
            KafkaHeader(name: "ph-empty", value: []),
            KafkaHeader(name: "ph-null", value: nil),
        ]
        let sent = [
            KafkaProducerMessage(topic: topic, key: Array("seat-1".utf8), value: Array("{\"row\":1}".utf8), headers: headers),
            KafkaProducerMessage(topic: topic, key: Array("seat-2".utf8), value: nil),
            KafkaProducerMessage(topic: topic, key: nil, value: []),
            KafkaProducerMessage(topic: topic, key: Array("bytes".utf8), value: [0, 255, 10, 13, 0]),
        ]
        var delivered: [KafkaDeliveredMessage] = []
        for message in sent {
            delivered.append(try await producer.deliver(message))
        }
        #expect(delivered.map(\.offset) == [0, 1, 2, 3])
        #expect(delivered.allSatisfy { $0.topic == topic && $0.partition == 0 })
        try await producer.shutdown()

        let received = try await TestCluster.readAll(topic, partitions: 1)
        try #require(received.count == sent.count)
        for (got, want) in zip(received, sent) {
            #expect(got.key == want.key)
            #expect(got.value == want.value)
        }
        #expect(received[0].headers == headers)
        #expect(received[0].headers.value(named: "ph-contract") == Array("ticketing.Seat".utf8))
        #expect(received[1].headers.isEmpty)
        #expect(received[0].timestampMilliseconds != nil)
        // Lent in place, the parts are the same bytes, and absent stays apart from empty.
        for (got, want) in zip(received, sent) {
            got.withUnsafeRecord { key, value, lent in
                #expect(key.map { Array($0) } == want.key)
                #expect(value.map { Array($0) } == want.value)
                #expect(lent.map { KafkaHeader(name: String(decoding: $0.name, as: UTF8.self), value: $0.value.map { Array($0) }) } == want.headers)
            }
        }
    }

    @Test("per-key order holds across partitions, and a key stays in one partition")
    func perKeyOrder() async throws {
        let partitions = 4
        let topic = try await TestCluster.createTopic(partitions: partitions)
        let failures = FailureCounter()
        let producer = try TestCluster.producer { report in
            if case .failed = report { failures.add() }
        }
        let keys = 25
        let perKey = 80
        for sequence in 0..<perKey {
            for key in 0..<keys {
                try producer.send(KafkaProducerMessage(topic: topic, key: "key-\(key)", value: "\(sequence)"))
            }
        }
        try await producer.flush(timeout: .seconds(30))
        #expect(failures.count == 0)

        let received = try await TestCluster.readAll(topic, partitions: partitions)
        #expect(received.count == keys * perKey)
        var lastSequence: [String: Int] = [:]
        var partitionOfKey: [String: Int32] = [:]
        for message in received {
            let key = try #require(message.keyString)
            let sequence = try #require(message.valueString.flatMap { Int($0) })
            #expect(sequence == (lastSequence[key] ?? -1) + 1, "key \(key): \(sequence) after \(lastSequence[key] ?? -1)")
            lastSequence[key] = sequence
            #expect(partitionOfKey[key, default: message.partition] == message.partition)
            partitionOfKey[key] = message.partition
        }
        #expect(Set(partitionOfKey.values).count > 1, "keys should spread over partitions")
    }

    @Test("batch polling returns at most maxMessages, in offset order")
    func batchPolling() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let producer = try TestCluster.producer()
        for index in 0..<50 {
            try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
        }
        try await producer.flush(timeout: .seconds(30))

        let consumer = try TestCluster.consumer()
        try await consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: .beginning)])
        var offsets: [Int64] = []
        _ = try await waitFor("50 messages", timeout: .seconds(30)) { () -> Bool? in
            for case .messages(let batch) in try await consumer.poll(maxMessages: 7) {
                #expect(batch.count <= 7)
                offsets += batch.map(\.offset)
            }
            return offsets.count >= 50 ? true : nil
        }
        #expect(offsets == Array(0..<50))

        try await consumer.seek([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: KafkaOffset(42))])
        let afterSeek = try await waitFor("a message after seek", timeout: .seconds(30)) { () -> KafkaMessage? in
            for case .messages(let batch) in try await consumer.poll() { return batch.first }
            return nil
        }
        #expect(afterSeek.offset == 42)
        let watermarks = try #require(consumer.cachedWatermarks(KafkaTopicPartition(topic: topic, partition: 0)))
        #expect(watermarks.high == 50)
        try await consumer.close()
    }

    @Test("partitions join and leave a manual assignment one by one: one removed is read no more while the other goes on, and added back it is read from where it is placed")
    func incrementalAssignment() async throws {
        let topic = try await TestCluster.createTopic(partitions: 2)
        let producer = try TestCluster.producer()
        func produce(_ range: Range<Int>, to partition: Int32) async throws {
            for index in range {
                try producer.send(KafkaProducerMessage(topic: topic, partition: partition, key: "k", value: "\(index)"))
            }
            try await producer.flush(timeout: .seconds(30))
        }
        let (p0, p1) = (KafkaTopicPartition(topic: topic, partition: 0), KafkaTopicPartition(topic: topic, partition: 1))
        try await produce(0..<10, to: 1)
        try await produce(0..<10, to: 0)
        let consumer = try TestCluster.consumer()
        // Reads until each listed partition reported its end at `ends`, returning the
        // offsets read by partition.
        func readTo(_ ends: [KafkaTopicPartition: Int64]) async throws -> [Int32: [Int64]] {
            var offsets: [Int32: [Int64]] = [:]
            var ended: Set<KafkaTopicPartition> = []
            _ = try await waitFor("the ends \(ends)", timeout: .seconds(30)) { () -> Bool? in
                for event in try await consumer.poll(timeout: .milliseconds(200)) {
                    switch event {
                    case .messages(let batch): for message in batch { offsets[message.partition, default: []].append(message.offset) }
                    case .partitionEOF(let partition, let next) where ends[partition] == next: ended.insert(partition)
                    default: break
                    }
                }
                return ended.count == ends.count ? true : nil
            }
            return offsets
        }
        try await consumer.assign([KafkaTopicPartitionOffset(p0, offset: .beginning)])
        try await consumer.addAssignment([KafkaTopicPartitionOffset(p1, offset: KafkaOffset(5))])
        var read = try await readTo([p0: 10, p1: 10])
        #expect(read[0] == Array(0..<10) && read[1] == Array(5..<10), "\(read)")

        // Listed twice, removed once: librdkafka alone aborts the process on the second copy.
        try await consumer.removeAssignment([p1, p1])
        #expect(try await consumer.assignment() == [p0])
        // A partition not assigned, or one listed twice with no one place to start: clear
        // errors that name it, and the assignment stays as it was.
        await #expect { try await consumer.removeAssignment([p1]) } throws: { "\($0)".contains("[1] can't be unassigned since it is not in the current assignment") }
        await #expect {
            try await consumer.addAssignment([KafkaTopicPartitionOffset(p1, offset: KafkaOffset(1)), KafkaTopicPartitionOffset(p1, offset: KafkaOffset(2))])
        } throws: { "\($0)".contains("\(p1) is listed twice") }
        #expect(try await consumer.assignment() == [p0])
        try await produce(10..<15, to: 1)
        try await produce(10..<15, to: 0)
        read = try await readTo([p0: 15])
        #expect(read[0] == Array(10..<15) && read[1] == nil, "partition 1 is not read once removed: \(read)")

        try await consumer.addAssignment([KafkaTopicPartitionOffset(p1, offset: KafkaOffset(8))])
        #expect(Set(try await consumer.assignment()) == [p0, p1])
        await #expect { try await consumer.addAssignment([KafkaTopicPartitionOffset(p0, offset: KafkaOffset(0))]) } throws: {
            "\($0)".contains("[0] is already part of the current assignment")
        }
        read = try await readTo([p1: 15])
        #expect(read[1] == Array(8..<15) && read[0] == nil, "\(read)")
        try await producer.shutdown()
        try await consumer.close()
    }

    @Test("a poll that fills its batch takes the messages that come after the first until its window ends, and stops early once full")
    func fillingPoll() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        let producer = try TestCluster.producer()
        let consumer = try TestCluster.consumer()
        try await consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: .beginning)])
        // The empty partition's end first, which a poll returns as an event of its own.
        _ = try await waitFor("the empty partition's end", timeout: .seconds(30)) { () -> Bool? in
            try await consumer.poll(timeout: .milliseconds(200)).contains { if case .partitionEOF = $0 { true } else { false } } ? true : nil
        }

        // The first message opens a 5 s window; four more are acknowledged one by one
        // after it, each by the broker before the next is sent. The local broker holds
        // an empty fetch for the whole fetch.wait.max.ms (500 ms), so each reaches the
        // consumer within about that: all four well inside the window.
        let filling = Task { try await consumer.poll(maxMessages: 100, timeout: .seconds(30), fill: .seconds(5)) }
        for index in 0..<5 {
            _ = try await producer.deliver(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
        }
        let events = try await filling.value
        let first = events.flatMap { event -> [KafkaMessage] in if case .messages(let batch) = event { batch } else { [] } }
        #expect(first.map(\.valueString) == (0..<5).map { "\($0)" }, "one poll takes all five: \(events)")

        // Full before the window ends: it returns at once, not after the window.
        for index in 5..<10 {
            try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
        }
        try await producer.flush(timeout: .seconds(30))
        let window = Duration.seconds(60)
        let started = ContinuousClock.now
        let full = try await consumer.poll(maxMessages: 3, timeout: .seconds(30), fill: window)
        #expect(ContinuousClock.now - started < window, "a full batch ends the fill window")
        let taken = full.flatMap { event -> [KafkaMessage] in if case .messages(let batch) = event { batch } else { [] } }
        #expect(taken.map(\.valueString) == ["5", "6", "7"])
        try await producer.shutdown()
        try await consumer.close()
    }

    @Test("send returns at once and every message gets exactly one delivery report")
    func deliveryReports() async throws {
        let topic = try await TestCluster.createTopic(partitions: 2)
        let reports = ReportCollector()
        let producer = try TestCluster.producer { reports.add($0) }
        var ids = Set<KafkaMessageID>()
        for index in 0..<500 {
            ids.insert(try producer.send(KafkaProducerMessage(topic: topic, key: "k\(index % 7)", value: "\(index)")))
        }
        try await producer.flush(timeout: .seconds(30))
        let all = reports.all
        #expect(all.count == 500)
        #expect(Set(all.map(\.id)) == ids)
        #expect(all.allSatisfy { if case .delivered = $0 { true } else { false } })
        #expect(producer.pendingCount == 0)
    }

    @Test("batched delivery reports: every message reported once with its own topic, in send order per partition, all handled when flush returns")
    func batchedDeliveryReports() async throws {
        let topics = [try await TestCluster.createTopic(partitions: 2), try await TestCluster.createTopic(partitions: 1)]
        let batches = Mutex<[[KafkaDeliveryReport]]>([])
        var configuration = KafkaProducerConfiguration(connection: TestCluster.connection)
        configuration.linger = .milliseconds(1)
        let producer = try KafkaProducer(configuration: configuration, logger: TestCluster.logger) { (reports: [KafkaDeliveryReport]) in
            // A slow handler: a flush that returned before the batch the polling thread
            // holds was handled would find reports missing below.
            Thread.sleep(forTimeInterval: 0.02)
            batches.withLock { $0.append(reports) }
        }
        var sentTopic: [UInt64: String] = [:]
        for index in 0..<600 {
            // The topics alternate in runs of three, so reports switch topic within a batch.
            let topic = topics[(index / 3) % 2]
            try producer.send(KafkaProducerMessage(topic: topic, key: "k\(index % 5)", value: "\(index)"), reportingAs: UInt64(index))
            sentTopic[UInt64(index)] = topic
        }
        try await producer.flush(timeout: .seconds(30))
        let all = batches.withLock { $0 }
        let reports = all.flatMap { $0 }
        #expect(reports.count == 600, "\(reports.count) reports handled when flush returned, not 600")
        #expect(Set(reports.map(\.id.rawValue)) == Set(sentTopic.keys))
        #expect(all.count < reports.count, "each of \(reports.count) reports came alone: no batching")
        var lastOffset: [String: Int64] = [:]
        for report in reports {
            guard case .delivered(let message) = report else {
                Issue.record("message \(report.id.rawValue) failed: \(report)")
                continue
            }
            #expect(message.topic == sentTopic[message.id.rawValue], "message \(message.id.rawValue) reported for topic \(message.topic)")
            let partition = "\(message.topic)/\(message.partition)"
            #expect(message.offset > lastOffset[partition, default: -1], "\(partition): offset \(message.offset) reported after a later one")
            lastOffset[partition] = message.offset
        }
        try await producer.shutdown()
    }

    @Test("a send that waits for room rides out a full local queue; a plain send throws queueFull")
    func waitingForRoom() async throws {
        let topic = try await TestCluster.createTopic(partitions: 1)
        var configuration = KafkaProducerConfiguration(connection: TestCluster.connection)
        configuration.maxQueuedMessages = 5
        let reports = ReportCollector()
        let producer = try KafkaProducer(configuration: configuration, logger: TestCluster.logger) { reports.add($0) }
        var refused = 0
        for index in 0..<50 {
            do throws(KafkaError) {
                try producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "plain \(index)"))
            } catch {
                #expect(error.code == .queueFull)
                refused += 1
            }
        }
        #expect(refused > 0, "50 sends into a queue of 5 should have found it full")
        for index in 0..<200 {
            try await producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "waited \(index)"), waitingForRoomEvery: .milliseconds(1))
        }
        try await producer.flush(timeout: .seconds(30))
        #expect(reports.all.count == 50 - refused + 200)
        #expect(reports.all.allSatisfy { if case .delivered = $0 { true } else { false } })
        try await producer.shutdown()
    }
}
