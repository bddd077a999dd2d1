import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres
import PumphouseUnit

/// Reads a pipeline's status from the broker and PostgreSQL, all of it before one
/// deadline: the member topic's recent tail, the watermarks of the writers' topics, and
/// the writers' stored offsets.
struct StatusProbe: Sendable {
    let configuration: PipelineConfiguration
    /// The file the configuration came from, for the fixes an error names.
    let file: String
    let memberTimeout: Duration
    let deadline: ContinuousClock.Instant
    let logger: Logger

    /// The time left, in tenths of a second (errors quote it), and never nothing: a
    /// step that starts late still gets one short try.
    private var remaining: Duration {
        .milliseconds(max(5, Int64(((deadline - .now) / .milliseconds(100)).rounded())) * 100)
    }

    func read() async throws -> PipelineStatus {
        let topics = try await describeTopics()
        var problems: [String] = []
        func partitions(of topic: String, for purpose: String) -> [KafkaTopicPartition] {
            guard let ids = topics[topic] else {
                problems.append("topic \(topic) (\(purpose)) does not exist: create it with `pumphouse topics create --config \(file)`")
                return []
            }
            return ids.map { KafkaTopicPartition(topic: topic, partition: $0) }
        }
        let memberPartitions = partitions(of: configuration.memberTopic, for: "member topic")
        var writerPartitions: [String: [KafkaTopicPartition]] = [:]
        var deadLetterPartitions: [String: [KafkaTopicPartition]] = [:]
        for writer in configuration.writers {
            writerPartitions[writer.name] = writer.caches.compactMap(configuration.cache).flatMap { partitions(of: $0.topic, for: "cache \($0.contract)") }
            deadLetterPartitions[writer.name] = partitions(of: writer.deadLetterTopic, for: "dead letters of writer \(writer.name)")
        }

        // The three reads wait on different services; side by side they share the time.
        async let announcements = readAnnouncements(memberPartitions)
        // Writers may share a dead-letter topic; each partition is asked for once.
        let ended = Array(Set(writerPartitions.values.flatMap { $0 } + deadLetterPartitions.values.flatMap { $0 }))
        async let watermarks = readWatermarks(ended)
        async let ledger = readLedger()
        let (heard, ends, ledgerRead) = try await (announcements, watermarks, ledger)
        let stored = ledgerRead?.stored
        if ledgerRead == nil {
            problems.append("PostgreSQL has no pumphouse_writer_offsets table, so no writer has stored progress: apply the migrations with `pumphouse migrate --config \(file)`")
        }

        let partitionedTopics = Set(configuration.caches.filter(\.mode.isPartitioned).map(\.topic))
        let writers = configuration.writers.map { writer in
            PipelineStatus.Writer(name: writer.name, group: writer.group, partitions: writerPartitions[writer.name, default: []].map { partition in
                let ledger = stored?[WriterPartitionKey(writer: writer.name, partition: partition)]
                return PipelineStatus.WriterPartition(
                    topic: partition.topic, partition: partition.partition, storedOffset: ledger?.next,
                    ownership: partitionedTopics.contains(partition.topic) ? ledger?.ownership ?? PartitionOwnership() : nil,
                    lowWatermark: ends[partition]?.low ?? -1, highWatermark: ends[partition]?.high ?? 0
                )
            })
        }
        for writer in writers {
            for partition in writer.partitions {
                if let stored = partition.storedOffset, stored > partition.highWatermark {
                    problems.append(
                        "writer \(writer.name) stored offset \(stored) for \(partition.topic)[\(partition.partition)], beyond its end (\(partition.highWatermark)): the topic was recreated or the database belongs to another cluster; units loading this cache will wait for changes that do not exist (docs/readers.md, Warm start)"
                    )
                }
            }
        }
        let deadLetters = configuration.writers.map { writer in
            PipelineStatus.DeadLetters(writer: writer.name, topic: writer.deadLetterTopic, count: deadLetterPartitions[writer.name, default: []].reduce(0) { count, partition in
                guard let end = ends[partition] else { return count }
                return count + max(0, end.high - max(0, end.low))
            })
        }
        return PipelineStatus(
            memberTopic: configuration.memberTopic, memberTimeoutMilliseconds: Int64(memberTimeout / .milliseconds(1)),
            observedAt: heard.observedAt, caches: heard.caches, writers: writers, deadLetters: deadLetters,
            sequenceGaps: ledgerRead?.sequenceGaps ?? [],
            readerGroup: configuration.reader.group, requestTopic: configuration.reader.requestTopic, readers: heard.readers,
            problems: problems
        )
    }

    // MARK: Kafka

    /// Every topic's partitions; the first question to the broker, so an unreachable
    /// one is named here.
    private func describeTopics() async throws -> [String: [Int32]] {
        var admin = KafkaAdminConfiguration(connection: configuration.kafka)
        admin.requestTimeout = remaining
        do {
            let topics = try await KafkaAdmin(configuration: admin, logger: logger).listTopics()
            return Dictionary(uniqueKeysWithValues: topics.map { ($0.name, $0.partitions.map(\.id)) })
        } catch {
            throw kafkaUnreachable(error)
        }
    }

    private func kafkaUnreachable(_ error: any Error) -> ServiceUnreachable {
        .kafka(configuration.kafka, file: file, error: error, remedy: ", and --timeout-s allows more time")
    }

    private struct Heard: Sendable {
        var caches: [PipelineStatus.Cache]
        var readers: [PipelineStatus.Member]
        var observedAt: Int64
    }

    /// The member topic from one member timeout ago to its end, folded into member lists
    /// the way a unit folds it: announcements older than the timeout say nothing about
    /// who is alive now, a leave removes a member, silence expires one.
    private func readAnnouncements(_ partitions: [KafkaTopicPartition]) async throws -> Heard {
        var messages: [KafkaMessage] = []
        // The tail ends where the first fetch found the end, so ages count from before
        // the read: a slow broker must not age the members it was slow to deliver.
        var observedAt = Int64(Date().timeIntervalSince1970 * 1000)
        var now = ContinuousClock.now
        if !partitions.isEmpty {
            do {
                let consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka)
                let window = Int64(Date().timeIntervalSince1970 * 1000) - Int64(memberTimeout / .milliseconds(1))
                // Brokers that answer ListOffsets wrongly (the local one) give the start of
                // the log: more to read, the same answer.
                let starts = try await KafkaConsumer.offsets(
                    forTimestamp: max(0, window), in: partitions, configuration: consumerConfiguration,
                    timeout: remaining, logger: logger
                ).filter { $0.offset != .end }
                if !starts.isEmpty {
                    let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
                    do {
                        try await consumer.assign(starts)
                        observedAt = Int64(Date().timeIntervalSince1970 * 1000)
                        now = .now
                        _ = try await consumer.readToEnd(starts.map(\.topicPartition), until: deadline) { messages += $0 }
                        try await consumer.close()
                    } catch {
                        try? await consumer.close()
                        throw error
                    }
                }
            } catch {
                throw kafkaUnreachable(error)
            }
        }
        let timeout = Int64(memberTimeout / .milliseconds(1))
        // By the cache name's bytes: an announcement for "shop.\u{212A}art" (a Kelvin
        // sign) is not one of shop.Kart's members.
        var lists = Dictionary(uniqueKeysWithValues: configuration.caches.map { (ExactKey($0.contract.rawValue), MemberList(cache: $0.contract.rawValue, this: "")) })
        var readers = MemberList(cache: "", this: "")
        for message in messages.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            // Not before the epoch: a foreign producer's timestamp near Int64.min would
            // overflow the age below.
            let sent = max(0, min(observedAt, message.timestampMilliseconds ?? observedAt))
            guard observedAt - sent <= timeout, let announcement = message.value.flatMap(MemberAnnouncement.init) else { continue }
            let heardAt = now.advanced(by: .milliseconds(sent - observedAt))
            switch announcement.role {
            case .unit: lists[ExactKey(announcement.cache), default: MemberList(cache: announcement.cache, this: "")].hear(announcement, at: heardAt)
            case .reader: readers.hear(announcement, at: heardAt)
            }
        }
        func members(_ list: inout MemberList) -> [PipelineStatus.Member] {
            _ = list.expire(now: now, timeout: memberTimeout)
            return list.members.values.sorted { ($0.since, $0.id) < ($1.since, $1.id) }.map { member in
                let silent = list.lastHeard[ExactKey(member.id)].map { Int64(((now - $0) / .milliseconds(1)).rounded()) } ?? 0
                return PipelineStatus.Member(
                    id: member.id, address: member.address, loaded: member.loaded, leaving: member.leaving, since: member.since,
                    lastHeard: observedAt - silent, unacknowledged: list.unacknowledged[ExactKey(member.id)]
                )
            }
        }
        let caches = lists.keys.sorted().map { name in
            let cache = configuration.caches.first { $0.contract.rawValue.isSameBytes(as: name.text) }
            return PipelineStatus.Cache(name: name.text, topic: cache?.topic ?? "", mode: cache?.mode, members: members(&lists[name]!))
        }
        return Heard(caches: caches, readers: members(&readers), observedAt: observedAt)
    }

    private func readWatermarks(_ partitions: [KafkaTopicPartition]) async throws -> [KafkaTopicPartition: KafkaWatermarks] {
        do {
            return try await KafkaConsumer.watermarks(
                of: partitions, configuration: KafkaConsumerConfiguration(connection: configuration.kafka), until: deadline, logger: logger
            )
        } catch {
            throw kafkaUnreachable(error)
        }
    }

    // MARK: PostgreSQL

    struct WriterPartitionKey: Hashable {
        var writer: String
        var partition: KafkaTopicPartition
    }

    /// What the writers' ledger holds: each partition's stored next offset and the
    /// ownership stored with it, and the holes found in origins' numbering.
    struct Ledger {
        var stored: [WriterPartitionKey: (next: Int64, ownership: PartitionOwnership)] = [:]
        var sequenceGaps: [PipelineStatus.SequenceGaps] = []
    }

    /// The writers' ledger; nil if its tables do not exist. A database migrated before
    /// the gaps' table existed shows no gaps.
    private func readLedger() async throws -> Ledger? {
        guard !configuration.writers.isEmpty else { return Ledger() }
        var postgres = try configuration.postgres
        postgres.applicationName = "pumphouse-status"
        postgres.connectTimeout = max(.seconds(2), remaining)
        postgres.deadPeerTimeout = max(.seconds(2), remaining)
        let db: PostgresConnection
        do {
            db = try await PostgresConnection.connect(configuration: postgres, logger: logger)
        } catch {
            throw ServiceUnreachable.postgres(postgres, file: file, error: error)
        }
        let writers = configuration.writers.map(\.name)
        // The topics the file declares: a writer's rows about topics it no longer writes
        // (renamed, recreated under another name) are not this pipeline's.
        let topics = configuration.writers.flatMap(\.caches).compactMap(configuration.cache).map(\.topic)
        let rows: [PostgresRow], gapRows: [PostgresRow]
        do {
            rows = try await db.query(
                "SELECT writer, topic, partition, next_offset, ownership_term, partition_owner FROM pumphouse_writer_offsets WHERE writer = ANY($1) AND next_offset >= 0",
                [writers]
            ).namedRows
            do {
                gapRows = try await db.query("""
                    SELECT writer, count(*) AS gaps, sum(next_present - first_missing) AS missing,
                           (array_agg(origin || ' ' || topic || '[' || partition || '] ' || first_missing || '..<' || next_present ORDER BY found_at DESC))[1] AS latest
                    FROM pumphouse_writer_sequence_gaps WHERE writer = ANY($1) AND topic = ANY($2) GROUP BY writer ORDER BY writer
                    """, [writers, topics]).namedRows
            } catch let error as PostgresError where error.sqlState == .undefinedTable {
                gapRows = []
            }
            await db.close()
        } catch let error as PostgresError where error.sqlState == .undefinedTable {
            await db.close()
            return nil
        } catch {
            await db.close()
            throw error
        }
        var ledger = Ledger()
        for row in rows {
            let partition = KafkaTopicPartition(topic: try row.decode(String.self, "topic"), partition: try row.decode(Int32.self, "partition"))
            ledger.stored[WriterPartitionKey(writer: try row.decode(String.self, "writer"), partition: partition)] = (
                try row.decode(Int64.self, "next_offset"),
                PartitionOwnership(term: try row.decode(Int64.self, "ownership_term"), owner: row["partition_owner"])
            )
        }
        ledger.sequenceGaps = try gapRows.map { row in
            PipelineStatus.SequenceGaps(
                writer: try row.decode(String.self, "writer"), gaps: try row.decode(Int64.self, "gaps"),
                missing: try row.decode(Int64.self, "missing"), latest: try row.decode(String.self, "latest")
            )
        }
        return ledger
    }
}
