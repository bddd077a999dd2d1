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
        for message in messages {
            let partition = message.topicPartition
            guard let claim = claims[partition] else {
                unclaimed += 1
                continue
            }
            if let next = claim.nextOffset, message.offset < next {
                appliedBefore += 1
                continue
            }
            nextOffsets[partition] = max(nextOffsets[partition] ?? 0, message.offset + 1)

            let contract: Contract
            let partitionedCache = partitioned[message.topic]
            do {
                switch try registry.decodeRecord(message) {
                case .change(let change):
                    contract = change
                case .claim(let ownershipClaim):
                    guard let partitionedCache else {
                        deadLetters.append(DeadLetter(message: message, reason: "unexpected-claim", detail: "\(ownershipClaim) on \(message.topic), whose cache is replicated: ownership claims belong to partitioned caches"))
                        continue
                    }
                    var ownership = self.ownership[partition] ?? claim.ownership
                    let outcome = ownership.apply(ownershipClaim, readFrom: partitionedCache.contract, partition: message.partition)
                    if let reason = outcome.rejection {
                        deadLetters.append(DeadLetter(message: message, reason: reason, detail: "\(ownershipClaim): \(outcome)"))
                    } else {
                        self.ownership[partition] = ownership
                    }
                    continue
                }
            } catch {
                deadLetters.append(DeadLetter(message: message, reason: error.code, detail: error.description))
                continue
            }
            guard accepts(contract.name, message.topic) else {
                deadLetters.append(DeadLetter(message: message, reason: "unexpected-contract", detail: "contract \(contract.name) does not belong on topic \(message.topic) for this writer"))
                continue
            }
            let origin = contract.exactOrigin
            switch contract.continuity(after: sequences[partition]?[origin] ?? claim.maxSequence[origin], checkingHoles: !compacted.contains(message.topic)) {
            case .duplicate:
                duplicates += 1
                continue
            case .gap(let missing):
                gaps.append(SequenceGap(partition: partition, origin: contract.origin, incarnation: contract.incarnation, missing: missing, foundAt: message.offset))
            case .next:
                break
            }
            sequences[partition, default: [:]][origin] = contract.sequenceMark
            // After the duplicate check, so a fenced change resent from a spool is a
            // duplicate the second time: dead-lettered once.
            if let partitionedCache {
                if let misplaced = partitionedCache.misplacement(ofKey: contract.key, in: message.partition) {
                    deadLetters.append(DeadLetter(message: message, reason: "misplaced-key", detail: misplaced))
                    continue
                }
                if let reason = (ownership[partition] ?? claim.ownership).fence(origin: contract.origin, term: contract.ownershipTerm) {
                    deadLetters.append(DeadLetter(message: message, reason: "fenced", detail: "\(reason)"))
                    continue
                }
            }

            let key = EntityKey(contract: contract.name, key: contract.exactKey)
            let effect = EntityEffect(contract)
            if var entity = entities[key] {
                if let folded = entity.effect.then(effect) {
                    if case .update = entity.effect, !effect.isUpdate {
                        leadingUpdates[key, default: []] += entity.messages
                        entity.messages = []
                    }
                    entity.effect = folded
                    entity.messages.append(message)
                    entities[key] = entity
                } else {
                    deadLetters.append(DeadLetter(message: message, reason: "missing-row", detail: "update of \(contract.name) \"\(contract.key)\" after its delete in the same batch"))
                }
            } else {
                entities[key] = Entity(effect: effect, messages: [message])
                order.append(key)
            }
        }
    }
}

extension EntityEffect {
    var isUpdate: Bool {
        if case .update = self { true } else { false }
    }
}

