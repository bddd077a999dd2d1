import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres

/// One batch, worked out in memory before any SQL runs: which messages are dead
/// letters, which are duplicates, the folded effect per entity, and the progress to
/// record. Pure, so the writer's decisions can be tested without a database.
struct BatchPlan {
    /// An entity of the batch: its contract, and its key by bytes (two keys that are
    /// equal Strings but different bytes are two rows to PostgreSQL).
    struct EntityKey: Hashable {
        let contract: ContractName
        let key: ExactKey
    }

    struct Entity {
        var effect: EntityEffect
        /// The messages folded into the effect, dead-lettered together if it cannot apply.
        var messages: [KafkaMessage]
    }

    var entities: [EntityKey: Entity] = [:]
    /// First-seen order, so statements run in a stable order.
    var order: [EntityKey] = []
    var deadLetters: [DeadLetter] = []
    /// Updates that a later add or delete of the same entity in this batch folded away.
    /// Their fate depends on the row as the batch found it: applied (and overwritten) if
    /// it existed, dead letters if not, as they would have been in a batch of their own.
    var leadingUpdates: [EntityKey: [KafkaMessage]] = [:]
    var duplicates = 0
    /// Messages passed over without an effect, a dead letter or a duplicate count: of a
    /// partition this member holds no claim for (revoked, or fetched before its claim;
    /// whoever claims it reads them again from the stored offset), and below the claim's
    /// next offset (applied before). Counted so a missing change can be traced to them or
    /// ruled out.
    var unclaimed = 0
    var appliedBefore = 0
    var applied = 0
    var nextOffsets: [KafkaTopicPartition: Int64] = [:]
    /// The last change applied per origin, by partition: what later ones are judged by.
    var sequences: [KafkaTopicPartition: [ExactKey: SequenceContinuity.Mark]] = [:]
    /// Holes found in origins' numbering (SequenceContinuity): recorded with the batch.
    var gaps: [SequenceGap] = []
    /// The units' ownership of each partition of a partitioned cache whose ownership
    /// claims in this batch changed it.
    var ownership: [KafkaTopicPartition: PartitionOwnership] = [:]

    /// Plans a batch. `claims` decides what is ours and where each partition resumes;
    /// `partitioned` holds, by topic, the caches that are partitioned, where ownership
    /// claims decide which changes count and a key must lie in its murmur2 partition;
    /// `compacted` names topics where holes in numbering are compaction's, not losses;
    /// `accepts` says whether a contract belongs on the topic it came from.
    init(
        messages: [KafkaMessage],
        claims: [KafkaTopicPartition: WriterLedger.Claim],
        registry: ContractRegistry,
        partitioned: [String: CacheConfiguration] = [:],
        compacted: Set<String> = [],
        accepts: (ContractName, String) -> Bool
    ) {
        // Messages come in runs of one partition: its claim, cache and origins are looked
        // up once per run, not hashed by topic name for every message.
        var run: PartitionRun?
        for message in messages {
            if run.map({ !$0.holds(message) }) ?? true {
                if let finished = run { end(finished) }
                run = begin(message.topicPartition, claims: claims, partitioned: partitioned, compacted: compacted)
            }
            plan(message, in: &run!, registry: registry, accepts: accepts)
        }
        if let run { end(run) }
    }

    /// What a run of one partition's messages is planned against, and what it advances:
    /// kept apart from the plan's per-partition dictionaries until the run ends.
    private struct PartitionRun {
        let partition: KafkaTopicPartition
        let claim: WriterLedger.Claim?
        let cache: CacheConfiguration?
        let checksHoles: Bool
        var nextOffset: Int64?
        var sequences: [ExactKey: SequenceContinuity.Mark]
        var ownership: PartitionOwnership?
        /// The contract last found to belong on the partition's topic.
        var accepted: ContractName?

        func holds(_ message: KafkaMessage) -> Bool {
            message.partition == partition.partition && message.topic.isSameBytes(as: partition.topic)
        }
    }

    /// Takes the partition's state out of the plan for a run of its messages; `end`
    /// puts it back, so a partition met again later in the batch goes on where it was.
    private mutating func begin(
        _ partition: KafkaTopicPartition, claims: [KafkaTopicPartition: WriterLedger.Claim],
        partitioned: [String: CacheConfiguration], compacted: Set<String>
    ) -> PartitionRun {
        PartitionRun(
            partition: partition, claim: claims[partition], cache: partitioned[partition.topic],
            checksHoles: !compacted.contains(partition.topic), nextOffset: nextOffsets[partition],
            sequences: sequences.removeValue(forKey: partition) ?? [:], ownership: ownership[partition]
        )
    }

    private mutating func end(_ run: PartitionRun) {
        if let next = run.nextOffset { nextOffsets[run.partition] = next }
        if !run.sequences.isEmpty { sequences[run.partition] = run.sequences }
        if let owners = run.ownership { ownership[run.partition] = owners }
    }

    private mutating func plan(_ message: KafkaMessage, in run: inout PartitionRun, registry: ContractRegistry, accepts: (ContractName, String) -> Bool) {
        guard let claim = run.claim else {
            unclaimed += 1
            return
        }
        if let next = claim.nextOffset, message.offset < next {
            appliedBefore += 1
            return
        }
        run.nextOffset = max(run.nextOffset ?? 0, message.offset + 1)

        let contract: Contract
        do {
            switch try registry.decodeRecord(message) {
            case .change(let change):
                contract = change
            case .claim(let ownershipClaim):
                guard let cache = run.cache else {
                    deadLetters.append(DeadLetter(message: message, reason: "unexpected-claim", detail: "\(ownershipClaim) on \(message.topic), whose cache is replicated: ownership claims belong to partitioned caches"))
                    return
                }
                var ownership = run.ownership ?? claim.ownership
                let outcome = ownership.apply(ownershipClaim, readFrom: cache.contract, partition: message.partition)
                if let reason = outcome.rejection {
                    deadLetters.append(DeadLetter(message: message, reason: reason, detail: "\(ownershipClaim): \(outcome)"))
                } else {
                    run.ownership = ownership
                }
                return
            }
        } catch {
            deadLetters.append(DeadLetter(message: message, reason: error.code, detail: error.description))
            return
        }
        if !(run.accepted.map { $0.rawValue.isSameBytes(as: contract.name.rawValue) } ?? false) {
            guard accepts(contract.name, message.topic) else {
                deadLetters.append(DeadLetter(message: message, reason: "unexpected-contract", detail: "contract \(contract.name) does not belong on topic \(message.topic) for this writer"))
                return
            }
            run.accepted = contract.name
        }
        let origin = contract.exactOrigin
        switch contract.continuity(after: run.sequences[origin] ?? claim.maxSequence[origin], checkingHoles: run.checksHoles) {
        case .duplicate:
            duplicates += 1
            return
        case .gap(let missing):
            gaps.append(SequenceGap(partition: run.partition, origin: contract.origin, incarnation: contract.incarnation, missing: missing, foundAt: message.offset))
        case .next:
            break
        }
        run.sequences[origin] = contract.sequenceMark
        // After the duplicate check, so a fenced change resent from a spool is a
        // duplicate the second time: dead-lettered once.
        if let cache = run.cache {
            if let misplaced = cache.misplacement(ofKey: contract.key, in: message.partition) {
                deadLetters.append(DeadLetter(message: message, reason: "misplaced-key", detail: misplaced))
                return
            }
            if let reason = (run.ownership ?? claim.ownership).fence(origin: contract.origin, term: contract.ownershipTerm) {
                deadLetters.append(DeadLetter(message: message, reason: "fenced", detail: "\(reason)"))
                return
            }
        }

        let key = EntityKey(contract: contract.name, key: contract.exactKey)
        let effect = EntityEffect(contract)
        // Changed where it lies in the dictionary: a copy out would share the entity's
        // message list, and appending to it would copy the list.
        guard let index = entities.index(forKey: key) else {
            entities[key] = Entity(effect: effect, messages: [message])
            order.append(key)
            return
        }
        guard let folded = entities.values[index].effect.then(effect) else {
            deadLetters.append(DeadLetter(message: message, reason: "missing-row", detail: "update of \(contract.name) \"\(contract.key)\" after its delete in the same batch"))
            return
        }
        if entities.values[index].effect.isUpdate, !effect.isUpdate {
            leadingUpdates[key, default: []] += entities.values[index].messages
            entities.values[index].messages = []
        }
        entities.values[index].effect = folded
        entities.values[index].messages.append(message)
    }
}

extension EntityEffect {
    var isUpdate: Bool {
        if case .update = self { true } else { false }
    }
}

