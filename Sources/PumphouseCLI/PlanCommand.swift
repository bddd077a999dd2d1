import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseContracts
import PumphouseUnit

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan a deployment before it runs.",
        subcommands: [Collisions.self]
    )

    struct Collisions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expected collisions of a replicated cache: N × UR² / S × RL (docs/concepts.md, collisions).",
            discussion: """
                Give the four inputs, or --from-pipeline to measure them on a running pipeline: \
                N from the member topic, UR, S and RL from the units' /metrics over --window-s \
                (the normal rate over the window, the peak and the minimum over each \
                --interval-s), printed beside the collisions the units counted meanwhile; with \
                --prometheus, the same from a Prometheus server over a window ending now. Run \
                it over the peak, normal and minimum load: a share of colliding updates too \
                large for the business is the cue to make the cache partitioned (mode: \
                partitioned), where one owner decides each key.
                """
        )

        @Option(help: "Units holding the same cache (N).")
        var instances: Int?
        @Option(help: "Updates to the cache per second (UR).")
        var updateRate: Double?
        @Option(help: "Entities (rows) in the cache (S).")
        var cacheSize: Int?
        @Option(help: "Replication latency in milliseconds (RL); 100 is a fair planning figure until it is measured. With --from-pipeline, used only where the window measured none.")
        var replicationLatencyMs: Double?
        @Option(help: "A running pipeline's file: measure the inputs of each replicated cache from its units instead of giving them.")
        var fromPipeline: String?
        @Option(help: "With --from-pipeline: read the inputs from this Prometheus server (its base URL, e.g. http://prometheus:9090), which scrapes the units, instead of from the units themselves.")
        var prometheus: String?
        @Option(help: "With --from-pipeline: the replicated cache to measure (all of them by default).")
        var cache: String?
        @Option(help: "With --from-pipeline: seconds to watch the units.")
        var windowS = 30
        @Option(help: "With --from-pipeline: seconds between reads of the units' /metrics (5, or the window if shorter); the peak and minimum rates are over one interval.")
        var intervalS: Int?
        @Option(help: "With --from-pipeline: milliseconds without an announcement after which a unit no longer counts (the units' default is 5000).")
        var memberTimeoutMs = 5000
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func validate() throws {
            if let prometheus {
                guard fromPipeline != nil else { throw ValidationError("--prometheus needs --from-pipeline FILE: the file names the replicated caches to ask about") }
                guard let url = URL(string: prometheus), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil else {
                    throw ValidationError("--prometheus must be the server's base URL, http(s)://host:port[/path], not \(prometheus)")
                }
            }
            if fromPipeline == nil {
                guard let instances, let updateRate, let cacheSize, let replicationLatencyMs else {
                    throw ValidationError("give --instances, --update-rate, --cache-size and --replication-latency-ms, or --from-pipeline FILE to measure them on a running pipeline")
                }
                try Self.check(instances: instances, updateRate: updateRate, cacheSize: cacheSize)
                try Self.check(replicationLatencyMs: replicationLatencyMs)
            } else {
                guard instances == nil, updateRate == nil, cacheSize == nil else {
                    throw ValidationError("--from-pipeline measures --instances, --update-rate and --cache-size; give either the file or the inputs")
                }
                if let replicationLatencyMs { try Self.check(replicationLatencyMs: replicationLatencyMs) }
                guard (1...86_400).contains(windowS) else { throw ValidationError("--window-s must be between 1 and 86400 seconds, not \(windowS)") }
                if let intervalS, !(1...windowS).contains(intervalS) {
                    throw ValidationError("--interval-s must be between 1 and --window-s (\(windowS)) seconds, not \(intervalS)")
                }
                guard (1...3_600_000).contains(memberTimeoutMs) else { throw ValidationError("--member-timeout-ms must be from 1 to 3600000 milliseconds, not \(memberTimeoutMs)") }
            }
        }

        static func check(instances: Int, updateRate: Double, cacheSize: Int) throws {
            guard instances >= 1 else { throw ValidationError("--instances must be at least 1, not \(instances): the units holding the cache") }
            guard updateRate.isFinite, (0...1e9).contains(updateRate) else { throw ValidationError("--update-rate must be a number of updates per second from 0 to 1e9, not \(updateRate)") }
            guard cacheSize >= 1 else { throw ValidationError("--cache-size must be at least 1 entity, not \(cacheSize)") }
        }

        static func check(replicationLatencyMs: Double) throws {
            // A day is far beyond any replication lag; Duration could not hold 1e40 ms at all.
            guard replicationLatencyMs.isFinite, (0...86_400_000).contains(replicationLatencyMs) else {
                throw ValidationError("--replication-latency-ms must be milliseconds from 0 to 86400000 (a day), not \(replicationLatencyMs)")
            }
        }

        func run() async throws {
            if let fromPipeline {
                try await measure(fromPipeline)
                return
            }
            guard let instances, let updateRate, let cacheSize, let replicationLatencyMs else { return }
            let forecast = CollisionForecast(
                instances: instances, updatesPerSecond: updateRate, cacheSize: cacheSize,
                replicationLatency: .milliseconds(replicationLatencyMs)
            )
            if json {
                let object: [String: Any] = [
                    "instances": instances, "updatesPerSecond": updateRate, "cacheSize": cacheSize, "replicationLatencyMs": replicationLatencyMs,
                    "updatesPerHour": forecast.updatesPerHour, "collisionsPerHour": forecast.collisionsPerHour, "collisionPercent": forecast.collisionShare * 100,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(Self.text(forecast, latencyMs: replicationLatencyMs))
        }

        /// The inputs measured on the pipeline `file` runs, per replicated cache.
        private func measure(_ file: String) async throws {
            let configuration = try PipelineOptions.load(file)
            var logger = Logger(label: "pumphouse.plan")
            logger.logLevel = .critical
            let caches = configuration.caches.filter { !$0.mode.isPartitioned && (cache.map($0.contract.rawValue.isSameBytes) ?? true) }
            guard !caches.isEmpty else {
                throw UsageError(cache.map { "\(file) declares no replicated cache \($0); its replicated caches: \(configuration.caches.filter { !$0.mode.isPartitioned }.map(\.contract.rawValue).sorted())" }
                    ?? "\(file) declares no replicated cache: a partitioned cache has one owner per key and no collisions to plan for")
            }
            let window = Duration.seconds(windowS), interval = Duration.seconds(intervalS ?? min(5, windowS))
            let plans: [CollisionPlan]
            if let prometheus {
                plans = await CollisionPlan.query(prometheus, caches: caches, window: window, interval: interval, assumedLatencyMs: replicationLatencyMs)
            } else {
                let probe = StatusProbe(
                    configuration: configuration, file: file, memberTimeout: .milliseconds(memberTimeoutMs), deadline: .now.advanced(by: .seconds(15)), logger: logger
                )
                let status = try await StatusCommand.bounded(by: .seconds(17)) { try await probe.read() }
                plans = await CollisionPlan.measure(caches, in: status, window: window, interval: interval, assumedLatencyMs: replicationLatencyMs)
            }
            if json {
                try printJSON(.object(["caches": .array(plans.map(\.json))]))
            } else {
                print(plans.map(\.text).joined(separator: "\n\n"))
            }
            // A cache without units, or with units or queries that did not answer.
            if plans.contains(where: { $0.measurement?.unreachable.isEmpty != true }) { throw ExitCode(1) }
        }

        /// The forecast as the chapter prints its worked examples.
        static func text(_ forecast: CollisionForecast, latencyMs: Double) -> String {
            let rows = [
                ("Update rate (UR)", "\(number(forecast.updatesPerSecond)) updates/second"),
                ("Number of instances (N)", "\(forecast.instances)"),
                ("Cache size (S)", "\(grouped(Double(forecast.cacheSize))) rows"),
                ("Replication latency (RL)", "\(number(latencyMs)) \(latencyMs == 1 ? "millisecond" : "milliseconds")"),
                ("Updates", "\(grouped(forecast.updatesPerHour)) per hour"),
                ("Collision rate", "\(String(format: "%.1f", forecast.collisionsPerHour)) per hour"),
                ("Percentage", "\(significant(forecast.collisionShare * 100))%"),
            ]
            let width = rows.map(\.0.count).max() ?? 0
            return rows.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }.joined(separator: "\n")
        }

        static func grouped(_ value: Double) -> String {
            let formatter = NumberFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.numberStyle = .decimal
            formatter.usesGroupingSeparator = true
            formatter.groupingSeparator = ","
            formatter.maximumFractionDigits = 1
            return formatter.string(from: NSNumber(value: value)) ?? String(value)
        }

        static func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }

        /// Two significant digits, never in exponent form: 0.02, 0.0002, 0.008, 0.1.
        static func significant(_ value: Double) -> String {
            let formatter = NumberFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.usesSignificantDigits = true
            formatter.maximumSignificantDigits = 2
            formatter.minimumSignificantDigits = 1
            return formatter.string(from: NSNumber(value: value)) ?? String(value)
        }
    }
}
