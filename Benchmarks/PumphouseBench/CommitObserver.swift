import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import Synchronization

/// Write-behind latency seen from outside the pipeline: from a change being made in a
/// unit's cache (its event time) to its row being visible, committed, in PostgreSQL.
///
/// A bare consumer reads every contract of the topic to learn each change's origin,
/// partition, sequence and event time. A poller reads the writer's ledger (the highest
/// sequence applied per origin and partition, committed in the same transaction as the
/// rows) every `pollInterval`. A change counts as committed at the server's clock when
/// the first query that shows its sequence ran, so each sample is an upper bound, late by
/// at most the time between two queries (the interval, and any wait for a core on a busy
/// machine), which is reported; event times are whole milliseconds, adding up to 1 ms.
final class CommitObserver: Sendable {
    /// Short against the latencies measured, long enough that the poller's queries do not
    /// take a noticeable share of a small machine from the pipeline it is watching.
    static let pollInterval = Duration.milliseconds(2)
    /// Always on: the window is decided by each change's event time instead.
    let latency = LatencyHistogram(recording: true)
    private let state = Mutex(State())
    /// Event times (ms) of the changes that count; none until the window opens.
    private let windowStart = Atomic<Int64>(.max)
    private let windowEnd = Atomic<Int64>(.max)

    private let failure = Mutex<(any Error)?>(nil)

    private struct State {
        var matcher = CommitMatcher()
        var nextOffsets: [Int32: Int64] = [:]
        var counted = 0
        var lastPoll: Int64?
        var longestPollGap: Int64 = 0
        var partitionsCommitted: Set<Int32> = []
    }

    /// Partitions where the writer has committed a change so far: a writer that has
    /// committed in every partition is past its start (its claims, and the checks a new
    /// consumer group's first placement makes it run), which is not what is measured.
    var partitionsCommitted: Int { state.withLock { $0.partitionsCommitted.count } }

    /// Reads the topic and polls the writer's ledger until the task is cancelled; a
    /// failure of either stops both and is thrown by `check()`.
    func start(topic: String, partitions: Int, writer: String, kafka: KafkaConnectionConfiguration, postgres: PostgresConfiguration, registry: ContractRegistry, logger: Logger) -> Task<Void, Never> {
        // Ahead of the units' work on a saturated machine: a late poll is a late sample.
        Task(priority: .high) {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.consume(topic: topic, partitions: partitions, kafka: kafka, registry: registry, logger: logger) }
                    group.addTask { try await self.pollLedger(writer: writer, topic: topic, postgres: postgres, logger: logger) }
                    try await group.waitForAll()
                }
            } catch where !(error is CancellationError) {
                failure.withLock { $0 = error }
            } catch {}
        }
    }

    func check() throws {
        if let error = failure.withLock({ $0 }) { throw error }
    }

    func open(atMilliseconds start: Int64) { windowStart.store(start, ordering: .relaxed) }
    func close(atMilliseconds end: Int64) { windowEnd.store(end, ordering: .relaxed) }

    /// The longest time between two polls' starts so far: how late a sample can be.
    var longestPollGapMilliseconds: Double { state.withLock { Double($0.longestPollGap) / 1000 } }

    /// Changes in the window, and how many of them are not yet seen committed.
    var progress: (counted: Int, outstanding: Int) { state.withLock { ($0.counted, $0.matcher.outstanding) } }

    /// Whether the consumer has read every partition up to `highWatermarks`.
    func hasRead(to highWatermarks: [Int32: Int64]) -> Bool {
        state.withLock { state in highWatermarks.allSatisfy { state.nextOffsets[$0.key, default: 0] >= $0.value } }
    }

    private func consume(topic: String, partitions: Int, kafka: KafkaConnectionConfiguration, registry: ContractRegistry, logger: Logger) async throws {
        var configuration = KafkaConsumerConfiguration(connection: kafka)
        configuration.reportPartitionEOF = false
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        do {
            try await read(topic: topic, partitions: partitions, with: consumer, registry: registry)
        } catch {
            try? await consumer.close()
            throw error
        }
        try await consumer.close()
    }

    private func read(topic: String, partitions: Int, with consumer: KafkaConsumer, registry: ContractRegistry) async throws {
        try await consumer.assign((0..<partitions).map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic: topic, partition: Int32($0)), offset: .beginning) })
        while !Task.isCancelled {
            for event in try await consumer.poll(maxMessages: 5000, timeout: .milliseconds(50)) {
                guard case .messages(let messages) = event else { continue }
                for message in messages {
                    let contract = try registry.decode(message)
                    read(contract, partition: message.partition, offset: message.offset)
                }
            }
        }
    }

    private func pollLedger(writer: String, topic: String, postgres: PostgresConfiguration, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration: postgres, logger: logger)
        do {
            while !Task.isCancelled {
                // The server's clock as the query runs, after its snapshot: whatever the
                // snapshot shows committed was committed by then, however late this task
                // is scheduled on a busy machine. One host, so one clock with the units'.
                let result = try await connection.query(
                    "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, partition, origin, max_seq FROM pumphouse_writer_origins WHERE writer = $1 AND topic = $2 UNION ALL SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, NULL, NULL, NULL",
                    [writer, topic]
                )
                let time = result.rows.last?[0].flatMap(Int64.init) ?? Self.nowMicroseconds()
                state.withLock { state in
                    if let previous = state.lastPoll { state.longestPollGap = max(state.longestPollGap, time - previous) }
                    state.lastPoll = time
                }
                for row in result.rows {
                    guard let at = row[0].flatMap(Int64.init), let partition = row[1].flatMap(Int32.init), let origin = row[2], let sequence = row[3].flatMap(Int64.init) else { continue }
                    committed(.init(origin: origin, partition: partition), through: sequence, atMicroseconds: at)
                }
                try await Task.sleep(for: Self.pollInterval)
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }

    private func read(_ contract: Contract, partition: Int32, offset: Int64) {
        let counts = contract.eventTime >= windowStart.load(ordering: .relaxed) && contract.eventTime <= windowEnd.load(ordering: .relaxed)
        let reading: CommitMatcher.Reading? = state.withLock { state in
            state.nextOffsets[partition] = offset + 1
            guard counts else { return nil }
            let reading = state.matcher.read(.init(origin: contract.origin, partition: partition), sequence: contract.sequence, eventTime: contract.eventTime)
            if reading != .duplicate { state.counted += 1 }
            return reading
        }
        if case .committed(let time)? = reading { latency.record(microseconds: time - contract.eventTime * 1000) }
    }

    private func committed(_ stream: CommitMatcher.Stream, through sequence: Int64, atMicroseconds time: Int64) {
        let eventTimes = state.withLock { state in
            state.partitionsCommitted.insert(stream.partition)
            return state.matcher.committed(stream, through: sequence, at: time)
        }
        for eventTime in eventTimes { latency.record(microseconds: time - eventTime * 1000) }
    }

    static func nowMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}
