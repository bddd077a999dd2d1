import ArgumentParser
import Foundation
import PumphouseUnit

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan a deployment before it runs.",
        subcommands: [Collisions.self]
    )

    struct Collisions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expected collisions of a replicated cache: N × UR² / S × RL (docs/concepts.md, collisions).",
            discussion: "Run it with the peak, normal and minimum update rates: a share of colliding updates too large for the business is the cue to make the cache partitioned (mode: partitioned), where one owner decides each key."
        )

        @Option(help: "Units holding the same cache (N).")
        var instances: Int
        @Option(help: "Updates to the cache per second (UR).")
        var updateRate: Double
        @Option(help: "Entities (rows) in the cache (S).")
        var cacheSize: Int
        @Option(help: "Replication latency in milliseconds (RL); 100 is a fair planning figure until it is measured.")
        var replicationLatencyMs: Double
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func validate() throws {
            guard instances >= 1 else { throw ValidationError("--instances must be at least 1, not \(instances): the units holding the cache") }
            guard updateRate.isFinite, updateRate >= 0 else { throw ValidationError("--update-rate must be a number of updates per second, 0 or more, not \(updateRate)") }
            guard cacheSize >= 1 else { throw ValidationError("--cache-size must be at least 1 entity, not \(cacheSize)") }
            guard replicationLatencyMs.isFinite, replicationLatencyMs >= 0 else {
                throw ValidationError("--replication-latency-ms must be milliseconds, 0 or more, not \(replicationLatencyMs)")
            }
        }

        func run() throws {
            let forecast = CollisionForecast(
                instances: instances, updatesPerSecond: updateRate, cacheSize: cacheSize,
                replicationLatency: .nanoseconds(Int64((replicationLatencyMs * 1e6).rounded()))
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
