import ArgumentParser
import Foundation
import Logging
import PumphouseBlocking
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphousePostgres

/// The baseline a write-behind pipeline is usually first built as: read a message,
/// run one statement for it in its own transaction, next. No batching, no ledger, so no
/// exactly-once either; it only sets the pace such a writer reaches on this machine
/// against the data writer on the same topic and table shape.
struct NaiveWriterBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "naive-writer",
        abstract: "Contracts/s of a writer that commits one statement per message (the baseline)."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "A table shaped like bench_account (created by the caller) to write into.")
    var table: String

    @Option(help: "Stop after this many contracts.")
    var count: Int = 20_000

    @Option(help: "Stop after this many seconds, whichever comes first.")
    var seconds: Int = 30

    func validate() throws {
        guard count > 0, seconds > 0 else { throw ValidationError("--count and --seconds must be at least 1") }
        guard table.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { throw ValidationError("--table must be a plain identifier (letters, digits, _)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        guard let cache = configuration.cache(BenchAccount.contract) else {
            throw UsageError("the pipeline file declares no cache bench.Account; the naive writer applies that one")
        }
        let logger = Logger(label: "pumphouse.bench.naive")
        let registry = try SchemaRepository(directory: configuration.schemasDirectory).load()
        let connection = try await PostgresConnection.connect(configuration: configuration.postgres, logger: logger)
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(connection: configuration.kafka), logger: logger)
        try await consumer.assign((0..<cache.partitions).map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic: cache.topic, partition: Int32($0)), offset: .beginning) })

        let clock = ContinuousClock()
        var started: ContinuousClock.Instant?
        var applied = 0
        do {
            (started, applied) = try await apply(from: consumer, into: connection, registry: registry, clock: clock)
        } catch {
            try? await consumer.close()
            await connection.close()
            throw error
        }
        try await consumer.close()
        await connection.close()
        guard let started, applied > 0 else { throw BenchmarkFailure("the naive writer found no contract on \(cache.topic)") }
        let elapsed = (clock.now - started).inSeconds
        Figures.say("naive writer: \(applied) contracts, one statement and commit each, in \(String(format: "%.2f", elapsed)) s = \(Int(Double(applied) / elapsed)) contracts/s")
        Figures.report("writer_naive_contracts_per_s", Double(applied) / elapsed)
    }

    /// Reads and applies until `count` contracts, `seconds` after the first, or 10 s
    /// without a message; returns when the first arrived and how many were applied.
    private func apply(from consumer: KafkaConsumer, into connection: PostgresConnection, registry: ContractRegistry, clock: ContinuousClock) async throws -> (ContinuousClock.Instant?, Int) {
        var started: ContinuousClock.Instant?
        var applied = 0
        var idle = 0
        reading: while applied < count {
            let events = try await consumer.poll(maxMessages: 500, timeout: .milliseconds(100))
            var messages = 0
            for case .messages(let batch) in events {
                for message in batch {
                    started = started ?? clock.now
                    let contract = try registry.decode(message)
                    _ = try await connection.query(statement(for: contract))
                    applied += 1
                    messages += 1
                    if applied == count || clock.now - started! > .seconds(seconds) { break reading }
                }
            }
            idle = messages == 0 ? idle + 1 : 0
            guard idle < 100 else { break }  // 10 s without a message: the topic is read
        }
        return (started, applied)
    }

    /// One statement per contract, in autocommit: an upsert for an add, an in-place
    /// update for an update (fields set, the balance delta added), a delete for a delete.
    private func statement(for contract: Contract) -> PostgresStatement {
        func text(_ name: String) -> String? {
            switch contract.fields[name] {
            case .string(let value)?: value
            case .int(let value)?: String(value)
            default: nil
            }
        }
        let delta: Int64 = if case .int(let value)? = contract.deltas["balance"] { value } else { 0 }
        switch contract.action {
        case .add, .create:
            return PostgresStatement(
                """
                INSERT INTO \(table) (id, owner, balance_cents, currency, status, updated_at)
                VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0))
                ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, balance_cents = EXCLUDED.balance_cents,
                    currency = EXCLUDED.currency, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
                """,
                [contract.key, text("owner"), text("balance"), text("currency"), text("status"), text("updatedAt")]
            )
        case .update:
            return PostgresStatement(
                """
                UPDATE \(table) SET owner = COALESCE($2, owner), balance_cents = COALESCE($3::bigint, balance_cents) + $7,
                    currency = COALESCE($4, currency), status = COALESCE($5, status),
                    updated_at = COALESCE(to_timestamp($6::bigint / 1000.0), updated_at)
                WHERE id = $1
                """,
                [contract.key, text("owner"), text("balance"), text("currency"), text("status"), text("updatedAt"), delta]
            )
        case .delete:
            return PostgresStatement("DELETE FROM \(table) WHERE id = $1", [contract.key])
        }
    }
}
