import Logging

/// The first and next offset of a partition's log, as a fetch response reported them.
public struct KafkaWatermarks: Sendable, Hashable {
    /// The oldest offset still held (-1 when the broker did not say).
    public var low: Int64
    /// The offset the next message will get: the end of the log.
    public var high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}

extension KafkaConsumer {
    /// Each partition's watermarks, from a fetch rather than ListOffsets (which some
    /// brokers answer wrongly, see `cachedWatermarks`).
    ///
    /// A type-level call with a short-lived client of its own, like
    /// `offsets(forTimestamp:)`: it places itself at each partition's end, where the first
    /// fetch response carries the watermarks, and closes again. Bounded by `deadline`;
    /// partitions still unanswered then are named in a `timedOut` error.
    public static func watermarks(
        of partitions: [KafkaTopicPartition],
        configuration: KafkaConsumerConfiguration,
        until deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws -> [KafkaTopicPartition: KafkaWatermarks] {
        guard !partitions.isEmpty else { return [:] }
        var configuration = configuration
        configuration.groupID = nil
        configuration.reportPartitionEOF = true
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        do {
            try await consumer.assign(partitions.map { KafkaTopicPartitionOffset($0, offset: .end) })
            // A broker that places `.end` too early answers with messages; their fetch
            // carries the watermarks all the same, so none of them needs reading.
            let found = try await consumer.poll(partitions, until: deadline, operation: "read the watermarks of \(partitions.sorted())") { _, _ in true }
            try await consumer.close()
            return found
        } catch {
            try? await consumer.close()
            throw error
        }
    }

    /// Reads the assigned `partitions` up to the end of their logs as this call finds
    /// them, handing every message to `handle`, and returns the watermarks it went by.
    ///
    /// The end is the high watermark of a partition's first fetch (or partition EOF):
    /// messages produced meanwhile may or may not be read, so a busy topic still ends.
    /// Bounded by `deadline`; partitions not read to their end by then are named in a
    /// `timedOut` error.
    public func readToEnd(
        _ partitions: [KafkaTopicPartition],
        until deadline: ContinuousClock.Instant,
        handle: ([KafkaMessage]) throws -> Void
    ) async throws -> [KafkaTopicPartition: KafkaWatermarks] {
        var targets: [KafkaTopicPartition: Int64] = [:]
        return try await poll(Set(partitions), until: deadline, operation: "read \(partitions.sorted()) to the end") { partition, last in
            guard let last else { return false }
            if targets[partition] == nil { targets[partition] = cachedWatermarks(partition)?.high }
            return targets[partition].map { last + 1 >= $0 } ?? false
        } messages: { try handle($0) }
    }

    /// Polls until `isDone` says so for every partition (given the last offset read in
    /// the poll, or nil after an empty fetch) or partition EOF is reported for it.
    private func poll(
        _ partitions: some Collection<KafkaTopicPartition>,
        until deadline: ContinuousClock.Instant,
        operation: String,
        isDone: (KafkaTopicPartition, Int64?) -> Bool,
        messages: ([KafkaMessage]) throws -> Void = { _ in }
    ) async throws -> [KafkaTopicPartition: KafkaWatermarks] {
        var open = Set(partitions)
        var found: [KafkaTopicPartition: KafkaWatermarks] = [:]
        var lastError: KafkaError?
        func finish(_ partition: KafkaTopicPartition, high: Int64? = nil) {
            guard open.remove(partition) != nil else { return }
            let cached = cachedWatermarks(partition)
            found[partition] = KafkaWatermarks(low: cached?.low ?? -1, high: high ?? cached?.high ?? 0)
        }
        while !open.isEmpty {
            let left = deadline - .now
            guard left > .zero else {
                let cause = lastError.map { "; last error: \($0.message) [\($0.code)]" } ?? ""
                throw KafkaError(code: .timedOut, message: "no answer for \(open.sorted()) within the time allowed\(cause)", operation: operation)
            }
            var last: [KafkaTopicPartition: Int64] = [:]
            for event in try await poll(maxMessages: 10_000, timeout: min(left, .milliseconds(100))) {
                switch event {
                case .messages(let batch):
                    try messages(batch)
                    for message in batch { last[message.topicPartition] = max(last[message.topicPartition] ?? -1, message.offset) }
                case .partitionEOF(let partition, let next):
                    finish(partition, high: next)
                case .error(let error) where error.code == .autoOffsetReset:
                    throw error
                case .error(let error):
                    lastError = error
                default:
                    break
                }
            }
            for partition in open where cachedWatermarks(partition) != nil && isDone(partition, last[partition]) {
                finish(partition)
            }
        }
        return found
    }
}
