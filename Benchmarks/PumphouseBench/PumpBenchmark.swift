import ArgumentParser
import Foundation
import Logging
import PumphouseBlocking
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit
import Synchronization

/// The data pump's publish rate against librdkafka's own, same bytes, same producer
/// settings. The raw side is handed contracts already encoded and only produces them;
/// the unit's side is the whole put path: validate, apply to the replica, number, spool
/// to disk, produce, and settle each acknowledgement. Both end when the broker has
/// acknowledged every message.
struct PumpBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pump",
        abstract: "Contracts/s published by one unit vs raw produce of the same bytes."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "How many bench.Account contracts each side publishes.")
    var count: Int = 200_000

    @Option(help: "Where the unit keeps its spool (emptied first).")
    var spoolDirectory: String

    @Option(help: "Seconds to wait for the broker to acknowledge everything.")
    var timeoutSeconds: Int = 300

    func validate() throws {
        guard count > 1 else { throw ValidationError("--count must be at least 2 (the raw side sends one to warm up)") }
        guard timeoutSeconds > 0 else { throw ValidationError("--timeout-seconds must be at least 1") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        guard let cache = configuration.cache(BenchAccount.contract) else {
            throw UsageError("the pipeline file declares no cache bench.Account; the pump benchmark publishes that one")
        }
        let logger = Logger(label: "pumphouse.bench.pump")
        try? FileManager.default.removeItem(atPath: spoolDirectory)
        let entities = (0..<count).map { BenchAccount(id: "acc-\($0)", balance: Int64($0), updatedAt: 1_763_700_000_000 + Int64($0)) }

        let raw = try await rawProduce(entities, cache: cache, configuration: configuration, logger: logger)
        let rawRate = Double(count - 1) / raw.inSeconds
        Figures.say("raw produce: \(count - 1) pre-encoded contracts acknowledged in \(String(format: "%.2f", raw.inSeconds)) s = \(Int(rawRate)) messages/s")

        let units = try await InProcessUnits.start(1, pipeline: configuration, idPrefix: "bench-pump-\(UInt64(Date().timeIntervalSince1970))", spoolDirectory: spoolDirectory, logger: logger)
        let unit = units.units[0]
        let accounts = units.accounts[0]
        let clock = ContinuousClock()
        let started = clock.now
        let enqueued: Duration
        let pumped: Duration
        do {
            for entity in entities { try accounts.put(entity) }
            enqueued = clock.now - started
            try await awaitCondition("the broker to acknowledge \(count) changes from the unit", timeout: .seconds(timeoutSeconds)) { unit.unacknowledgedChanges == 0 }
            pumped = clock.now - started
        } catch {
            try? await units.stop()
            throw error
        }
        try await units.stop()
        Figures.say("pump: \(count) puts in \(String(format: "%.2f", enqueued.inSeconds)) s, all acknowledged after \(String(format: "%.2f", pumped.inSeconds)) s = \(Int(Double(count) / pumped.inSeconds)) contracts/s")
        Figures.report("pump_contracts_per_s", Double(count) / pumped.inSeconds)
        Figures.report("pump_raw_produce_per_s", rawRate)
    }

    /// The same contracts a unit would publish, encoded up front, produced to a topic of
    /// the same shape with the pump's own producer settings.
    private func rawProduce(_ entities: [BenchAccount], cache: CacheConfiguration, configuration: PipelineConfiguration, logger: Logger) async throws -> Duration {
        let registry = try SchemaRepository(directory: configuration.schemasDirectory).load()
        let version = try registry.schemas(for: BenchAccount.contract).latestVersion
        let topic = "\(cache.topic).raw"
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.kafka), logger: logger)
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: cache.partitions, replicationFactor: cache.replicationFactor)])
        let origin = "bench-raw-\(UInt64(Date().timeIntervalSince1970))"
        let messages = try entities.enumerated().map { index, entity in
            let encoded = try registry.encode(Contract(
                name: BenchAccount.contract, version: version, action: .add, key: entity.key, origin: origin,
                sequence: Int64(index + 1), eventTime: entity.updatedAt, fields: entity.fields
            ))
            return KafkaProducerMessage(topic: topic, key: Array(encoded.key.utf8), value: encoded.value, headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) })
        }
        let producerConfiguration = DataPump.producerConfiguration(configuration.kafka)
        let failures = Mutex(0)
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger) { report in
            if case .failed = report { failures.withLock { $0 += 1 } }
        }
        let clock = ContinuousClock()
        let elapsed: Duration
        do {
            // Connected and warm, as the unit's producer is by the time it is measured.
            _ = try await producer.deliver(messages[0])
            let started = clock.now
            for message in messages.dropFirst() {
                try await producer.send(message, waitingForRoomEvery: .milliseconds(1))
            }
            try await producer.flush(timeout: .seconds(timeoutSeconds))
            elapsed = clock.now - started
        } catch {
            await producer.abandon()
            throw error
        }
        try await producer.shutdown()
        let failed = failures.withLock { $0 }
        guard failed == 0 else { throw BenchmarkFailure("\(failed) raw message(s) were not acknowledged by the broker") }
        return elapsed
    }
}
