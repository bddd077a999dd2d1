import ArgumentParser
import Foundation
import Logging
import Metrics
import PumphouseBlocking
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit

/// Replication lag and write-behind latency at a set rate of changes.
///
/// Three units in this process share a bench.Account cache, each changing accounts of
/// its own at a third of the rate (`AccountChanges`, as `pumphouse unit --rate` does).
/// After a warm-up, for a measured window: every change a unit applies from a peer is a
/// replication-lag sample (the units' own timer, kept whole here by
/// `ReplicationLagCapture`); with `--writer`, every change made in the window is a
/// write-behind sample once the writer (a separate `pumphouse writer` process) has
/// committed it (`CommitObserver`).
struct LatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Replication lag and write-behind latency of three units at a set rate of changes."
    )

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var window: RateWindowOptions

    @Option(help: "How many units share the cache.")
    var units: Int = 3

    @Option(help: "Accounts per unit.")
    var keys: Int = 10_000

    @Option(help: "Where the units keep their spools (emptied first).")
    var spoolDirectory: String

    @Option(help: "The data writer applying the topic, whose ledger shows what is committed; without it, write-behind is not measured.")
    var writer: String?

    @Option(help: "Seconds to wait, after the window, for the writer to commit every change of it.")
    var drainTimeoutSeconds: Int = 300

    func validate() throws {
        guard window.rate >= units else { throw ValidationError("--rate must be at least one change per second per unit") }
        guard (2...16).contains(units) else { throw ValidationError("--units must be from 2 to 16: replication needs a peer") }
        guard keys > 0 else { throw ValidationError("--keys must be at least 1") }
    }

    func run() async throws {
        let capture = ReplicationLagCapture()
        MetricsSystem.bootstrap(capture)
        let configuration = try pipeline.load()
        guard let cache = configuration.cache(BenchAccount.contract) else {
            throw UsageError("the pipeline file declares no cache bench.Account; the latency benchmark changes that one")
        }
        if let writer, configuration.writers.first(where: { $0.name == writer }) == nil {
            throw UsageError("the pipeline file declares no writer \(writer); pass the name of the writer that applies \(cache.topic)")
        }
        let logger = Logger(label: "pumphouse.bench.latency")
        try? FileManager.default.removeItem(atPath: spoolDirectory)

        let observer = CommitObserver()
        let observing = try writer.map { writer in
            observer.start(
                topic: cache.topic, partitions: cache.partitions, writer: writer, kafka: configuration.kafka, postgres: try configuration.postgres,
                registry: try SchemaRepository(directory: configuration.schemasDirectory).load(), logger: logger
            )
        }
        defer { observing?.cancel() }

        let perUnit = window.rate / units
        let running = try await InProcessUnits.start(units, pipeline: configuration, idPrefix: "bench-lag-\(UInt64(Date().timeIntervalSince1970))", spoolDirectory: spoolDirectory, logger: logger) { unit, accounts in
            [AccountChanges(unit: unit, accounts: accounts, perSecond: perUnit, keys: keys, logger: logger)]
        }
        // With a writer, the window opens once it has committed in every partition: the
        // write-behind measured is the running pipeline's, not the writer's start.
        let (start, end) = try await window.measure(warmedUp: {
            guard writer != nil else { return }
            try await awaitCondition("the writer to commit changes in each of the \(cache.partitions) partitions before the window opens", timeout: .seconds(60), every: .milliseconds(10)) {
                try observer.check()
                return observer.partitionsCommitted >= cache.partitions
            }
        }) { on, time in
            if on { observer.open(atMilliseconds: time) } else { observer.close(atMilliseconds: time) }
            capture.lag.isRecording.store(on, ordering: .relaxed)
        }
        try await running.stop()

        let lag = capture.lag
        guard lag.count > 0 else { throw BenchmarkFailure("no replicated change was applied in the window") }
        let measured = Double(end - start) / 1000
        let replicated = Double(lag.count) / Double(units - 1) / measured
        Figures.say("replication lag at \(window.rate) changes/s asked, \(units) units, \(window.seconds) s: \(lag.count) peer applications (about \(Int(replicated)) changes/s); p50 \(lag.milliseconds(at: 50)) ms, p99 \(lag.milliseconds(at: 99)) ms, p99.9 \(lag.milliseconds(at: 99.9)) ms, max \(lag.maxMilliseconds) ms")
        Figures.report("replication_lag_p50_ms_\(window.label)", lag.milliseconds(at: 50))
        Figures.report("replication_lag_p99_ms_\(window.label)", lag.milliseconds(at: 99))
        Figures.report("replication_lag_p999_ms_\(window.label)", lag.milliseconds(at: 99.9))
        Figures.report("replication_changes_per_s_\(window.label)", replicated)

        guard writer != nil else { return }
        let partitions = (0..<cache.partitions).map { KafkaTopicPartition(topic: cache.topic, partition: Int32($0)) }
        let watermarks = try await KafkaConsumer.watermarks(of: partitions, configuration: KafkaConsumerConfiguration(connection: configuration.kafka), until: .now + .seconds(30), logger: logger)
        let ends = Dictionary(uniqueKeysWithValues: watermarks.map { ($0.key.partition, $0.value.high) })
        let drainStarted = ContinuousClock.now
        try await awaitCondition("the writer to commit every change of the window", timeout: .seconds(drainTimeoutSeconds), every: .milliseconds(10)) {
            try observer.check()
            return observer.hasRead(to: ends) && observer.progress.outstanding == 0
        }
        let written = observer.latency
        let counted = observer.progress.counted
        Figures.say("write-behind at \(window.rate) changes/s asked: \(counted) changes made in the window (\(Int(Double(counted) / measured))/s), the last committed \(String(format: "%.1f", (ContinuousClock.now - drainStarted).inSeconds)) s after the units stopped; p50 \(written.milliseconds(at: 50)) ms, p99 \(written.milliseconds(at: 99)) ms, p99.9 \(written.milliseconds(at: 99.9)) ms, max \(written.maxMilliseconds) ms; samples late by up to \(observer.longestPollGapMilliseconds) ms (the longest gap between ledger polls)")
        Figures.report("writeback_latency_p50_ms_\(window.label)", written.milliseconds(at: 50))
        Figures.report("writeback_latency_p99_ms_\(window.label)", written.milliseconds(at: 99))
        Figures.report("writeback_changes_per_s_\(window.label)", Double(counted) / measured)
        Figures.report("writeback_poll_gap_max_ms_\(window.label)", observer.longestPollGapMilliseconds)
    }
}
