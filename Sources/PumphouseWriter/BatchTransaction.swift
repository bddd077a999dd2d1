import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphousePostgres

/// Applies one planned batch in one PostgreSQL transaction: its rows, its dead letters
/// (acknowledged by the broker before the commit) and its progress in the ledger.
///
/// The fast path stages each table's effects with COPY and merges them set-based, then
/// sends the merges, whatever needs per-entity statements, and the ledger's updates as
/// one pipeline: a batch costs a handful of round trips however large it is. When the
/// database rejects a row (a data or constraint error), the batch is run again on the
/// isolated path: one savepoint per entity, so only that entity is dead-lettered.
struct BatchTransaction: Sendable {
    let writer: String
    let deadLetterTopic: String
    let ledger: WriterLedger
    let tables: [ContractName: MappedTable]
    let mappers: [ContractName: any ContractMapper]
    /// Live column types per table, read by the start-up catalog check.
    let columnTypes: [ContractName: [String: String]]

    /// The fast path cannot say which row the database rejected.
    struct IsolationNeeded: Error {}

    /// One entity's per-entity statements; `checksRow` when the last one must change a
    /// row (a declarative update), so that zero rows means the row is missing.
    private struct EntityWrite {
        let key: BatchPlan.EntityKey
        let statements: [PostgresStatement]
        let checksRow: Bool
    }

    /// Runs the batch; records `plan.applied` and the final `plan.deadLetters`. Throws
    /// `IsolationNeeded` (fast path only), `WriterLedger.Fenced`, or what the database
    /// or broker threw.
    func apply(
        _ plan: inout BatchPlan,
        claims: [KafkaTopicPartition: WriterLedger.Claim],
        db: PostgresConnection,
        deadLetters: KafkaProducer,
        isolated: Bool
    ) async throws {
        let snapshot = plan
        let outcome = try await db.transaction { tx -> (applied: Int, letters: [DeadLetter]) in
            let absent = try await absentLeadingUpdates(snapshot, in: tx)
            var outcome = isolated
                ? try await applyIsolated(snapshot, in: tx)
                : try await applyFast(snapshot, in: tx)
            let progress = try ledger.progress(nextOffsets: snapshot.nextOffsets, sequences: snapshot.sequences, gaps: snapshot.gaps, ownership: snapshot.ownership, claims: claims)
            try progress.check(try await tx.pipeline(progress.statements)[...])
            outcome.letters = snapshot.deadLetters + absent + outcome.letters
            for letter in outcome.letters {
                try await deliver(letter, to: deadLetters)
            }
            return outcome
        }
        plan.applied = outcome.applied
        plan.deadLetters = outcome.letters
    }

    /// Sends a dead letter, with less of the source message each time the topic finds it
    /// too large (see `DeadLetter.Content`).
    private func deliver(_ letter: DeadLetter, to producer: KafkaProducer) async throws {
        for content in DeadLetter.Content.allCases {
            do {
                _ = try await producer.deliver(letter.producerMessage(topic: deadLetterTopic, writer: writer, content: content))
                return
            } catch let error as KafkaError where error.code == .messageSizeTooLarge && content != .bare {
                continue
            }
        }
    }

    /// The leading updates (see `BatchPlan.leadingUpdates`) whose row did not exist, or
    /// was soft-deleted, when the batch began, as dead letters. Run before the batch's
    /// own statements. A custom mapper's entities keep its own rules.
    private func absentLeadingUpdates(_ plan: BatchPlan, in tx: PostgresConnection) async throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        for (contract, keys) in Dictionary(grouping: plan.leadingUpdates.keys, by: \.contract).sorted(by: { $0.key < $1.key }) {
            guard let table = tables[contract] else { continue }
            let column = SQLIdentifier.quoted(table.mapping.columns.first { $0.source.isField(table.keyField) }?.name ?? table.mapping.keyColumns[0])
            var sql = "SELECT \(column)::text FROM \(SQLIdentifier.quoted(table.mapping.table)) WHERE \(column)::text = ANY($1::text[])"
            if let deleted = table.mapping.deleteColumn { sql += " AND \(SQLIdentifier.quoted(deleted)) IS NULL" }
            // A key holding U+0000 has no row (text cannot hold it), and as a parameter the
            // client refuses it, outside any savepoint: it would stop the writer, not
            // dead-letter the update.
            let candidates = keys.map(\.key.text).filter { !$0.utf8.contains(0) }
            let present = candidates.isEmpty ? [] : Set(try await tx.query(sql, [candidates]).rows.compactMap { $0[0].map { ExactKey($0) } })
            for key in keys.sorted(by: { $0.key < $1.key }) where !present.contains(key.key) {
                letters += plan.leadingUpdates[key, default: []].map {
                    DeadLetter(message: $0, reason: "missing-row", detail: "update of \(contract) \"\(key.key)\", which had no row (an add later in the batch created it)")
                }
            }
        }
        return letters
    }

    private func applyFast(_ plan: BatchPlan, in tx: PostgresConnection) async throws -> (applied: Int, letters: [DeadLetter]) {
        do {
            var statements: [PostgresStatement] = []
            var merges: [(merge: SetBasedApply.Merge, start: Int)] = []
            var leftOver: [BatchPlan.EntityKey] = []
            for (contract, keys) in Dictionary(grouping: plan.order, by: \.contract).sorted(by: { $0.key < $1.key }) {
                guard let table = tables[contract] else {
                    leftOver += keys  // a custom mapper's
                    continue
                }
                let staging = SetBasedApply(table: table, columnTypes: columnTypes[contract] ?? [:], staging: stagingTable(for: contract))
                let merge = try await staging.stage(keys, entities: plan.entities, in: tx)
                merges.append((merge, statements.count))
                statements += merge.statements
                leftOver += merge.leftOver
            }
            let writes = entityWrites(leftOver, plan: plan)
            var letters = writes.letters
            var starts: [Int] = []
            for write in writes.writes {
                starts.append(statements.count)
                statements += write.statements
            }
            let results = try await tx.pipeline(statements)
            var applied = 0
            for (merge, start) in merges {
                let outcome = merge.outcome(results[start...])
                applied += outcome.applied.count
                for key in outcome.missing { letters += Self.missingRow(plan.entities[key]!, key) }
            }
            for (write, start) in zip(writes.writes, starts) {
                if write.checksRow && results[start + write.statements.count - 1].affectedRows == 0 {
                    letters += Self.missingRow(plan.entities[write.key]!, write.key)
                } else {
                    applied += 1
                }
            }
            return (applied, letters)
        } catch let error as PostgresError where error.isRowError {
            throw IsolationNeeded()
        } catch is MappedTable.MappingFailure {
            throw IsolationNeeded()
        }
    }

    /// Each table's own staging table, named by the contract's place among all the
    /// writer's tables. A staging table outlives the batch with the shape of the table it
    /// was made for; named by the contract's place among the batch's contracts, it was
    /// another table's whenever a batch lacked one of them, and its COPY failed, so the
    /// whole batch ran again entity by entity.
    func stagingTable(for contract: ContractName) -> String {
        "pumphouse_stage_\(tables.keys.sorted().firstIndex(of: contract) ?? tables.count)"
    }

    private func applyIsolated(_ plan: BatchPlan, in tx: PostgresConnection) async throws -> (applied: Int, letters: [DeadLetter]) {
        let writes = entityWrites(plan.order, plan: plan)
        var letters = writes.letters
        var applied = 0
        for write in writes.writes {
            try await tx.query("SAVEPOINT pumphouse_entity")
            do {
                var last: PostgresResult?
                for statement in write.statements { last = try await tx.query(statement) }
                try await tx.query("RELEASE SAVEPOINT pumphouse_entity")
                if write.checksRow && last?.affectedRows == 0 {
                    letters += Self.missingRow(plan.entities[write.key]!, write.key)
                } else {
                    applied += 1
                }
            } catch let error as PostgresError where error.isRowError {
                try await tx.query("ROLLBACK TO SAVEPOINT pumphouse_entity")
                // The whole error, the server's detail included: it quotes the row, which
                // the letter carries anyway (logs get `description`, without it).
                letters += plan.entities[write.key]!.messages.map { DeadLetter(message: $0, reason: "rejected-by-database", detail: error.debugDescription) }
            }
        }
        return (applied, letters)
    }

    /// Per-entity statements, from the entity's mapper or its table mapping; an effect
    /// neither can express is dead-lettered as `unmappable`.
    private func entityWrites(_ keys: [BatchPlan.EntityKey], plan: BatchPlan) -> (writes: [EntityWrite], letters: [DeadLetter]) {
        var writes: [EntityWrite] = []
        var letters: [DeadLetter] = []
        for key in keys {
            guard let entity = plan.entities[key] else { continue }
            do {
                if let mapper = mappers[key.contract] {
                    let change = EntityChange(contract: key.contract, key: key.key.text, effect: entity.effect)
                    writes.append(EntityWrite(key: key, statements: try mapper.statements(for: change), checksRow: false))
                } else if let table = tables[key.contract] {
                    let statement = try table.statement(for: entity.effect, key: key.key.text)
                    let isUpdate = if case .update = entity.effect { true } else { false }
                    writes.append(EntityWrite(key: key, statements: [statement], checksRow: isUpdate))
                }
            } catch {
                letters += entity.messages.map { DeadLetter(message: $0, reason: "unmappable", detail: "\(error)") }
            }
        }
        return (writes, letters)
    }

    static func missingRow(_ entity: BatchPlan.Entity, _ key: BatchPlan.EntityKey) -> [DeadLetter] {
        entity.messages.map { DeadLetter(message: $0, reason: "missing-row", detail: "update of \(key.contract) \"\(key.key)\", which has no row") }
    }

}
