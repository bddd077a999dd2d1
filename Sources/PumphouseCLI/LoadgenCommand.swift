import ArgumentParser
import Foundation
import Logging
import PumphouseBlocking
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import Synchronization

struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Publish a reproducible mix of bench.Account adds, updates and deletes to its topic."
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The contract to generate (bench.Account is the one loadgen knows).")
    var contract: String = "bench.Account"

    @Option(help: "How many contracts to publish.")
    var count: Int

    @Option(help: "How many distinct entity keys.")
    var keys: Int = 1_000

    @Option(help: "Contracts per second; 0 publishes as fast as the producer takes them.")
    var rate: Int = 0

    @Option(help: "How many origins (simulated processing units) the changes come from.")
    var origins: Int = 1

    @Option(help: "Seed of the workload; the same seed gives the same contracts.")
    var seed: UInt64 = 1

    @Option(help: "Share of the changes that are updates of live keys, in percent (0-97); 3% are deletes, the rest adds.")
    var updatePercent: Int = 50

    @Option(help: "Origin name prefix (default: unique per run; a writer drops a repeated origin and sequence as a duplicate).")
    var originPrefix: String?

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be at least 1") }
        guard (1...100_000_000).contains(keys) else { throw ValidationError("--keys must be from 1 to 100000000, not \(keys)") }
        guard rate >= 0 else { throw ValidationError("--rate must be 0 (unlimited) or more") }
        guard (1...10_000).contains(origins) else { throw ValidationError("--origins must be from 1 to 10000") }
        guard (0...97).contains(updatePercent) else { throw ValidationError("--update-percent must be from 0 to 97 (3% are always deletes)") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        // A mistaken Kafka property is the file's (exit 2), not the run's.
        try await pipeline.checkBroker(configuration)
        guard contract == "bench.Account" else {
            throw UsageError("loadgen generates bench.Account only; --contract \(contract) is not supported")
        }
        let name = try ContractName(contract)
        guard let cache = configuration.cache(name) else {
            throw UsageError("the pipeline file declares no cache \(contract); add it under caches")
        }
        let registry: ContractRegistry
        do {
            registry = try SchemaRepository(directory: configuration.schemasDirectory).load()
        } catch {
            throw UsageError("\(error)")
        }
        let version = try registry.schemas(for: name).latestVersion
        let prefix = originPrefix ?? "loadgen-\(UInt64(Date().timeIntervalSince1970 * 1000))"
        var workload = AccountWorkload(contract: name, version: version, keys: keys, origins: origins, seed: seed, originPrefix: prefix, updatePercent: updatePercent)

        let failures = Mutex(0)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: configuration.kafka), logger: Logger(label: "pumphouse.loadgen")) { report in
            if case .failed = report { failures.withLock { $0 += 1 } }
        }
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<count {
            let encoded = try registry.encode(workload.next())
            let message = KafkaProducerMessage(
                topic: cache.topic, key: Array(encoded.key.utf8), value: encoded.value,
                headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) }
            )
            try await producer.send(message, waitingForRoomEvery: .milliseconds(5))
            if rate > 0, (index + 1) % max(1, rate / 100) == 0 {
                // Pace in steps of about 10 ms: the schedule is computed from the start.
                let due = started.advanced(by: .seconds(Double(index + 1) / Double(rate)))
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
        }
        try await producer.shutdown(timeout: .seconds(60))
        let elapsed = clock.now - started
        let seconds = elapsed.inSeconds
        let counts = workload.counts
        let failed = failures.withLock { $0 }
        print("sent \(count - failed) of \(count) contracts to \(cache.topic): \(counts.adds) adds, \(counts.updates) updates, \(counts.deletes) deletes over \(keys) keys from \(origins) origin(s) \(prefix)-u*, seed \(seed), in \(String(format: "%.2f", seconds)) s (\(Int(Double(count) / max(seconds, 0.001)))/s)")
        if failed > 0 {
            throw Unacknowledged(count: failed)
        }
    }

    /// Contracts the broker did not take: a failure of the run (exit 1), not of how it
    /// was asked for.
    struct Unacknowledged: Error, CustomStringConvertible {
        var count: Int
        var description: String { "\(count) contract(s) were not acknowledged by the broker; see the log for why, and send again" }
    }
}
