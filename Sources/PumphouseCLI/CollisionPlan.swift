import AsyncHTTPClient
import Foundation
import PumphouseContracts
import PumphousePipeline
import PumphouseUnit

/// One replicated cache's collision forecast from a measured window (`CollisionSampling`),
/// beside the collisions its units counted in that window.
struct CollisionPlan: Sendable {
    /// The share of updates expected to collide at the peak rate from which replicated
    /// caching is a poor fit: one in a thousand (the chapter's 10,000-row example), where
    /// reconciling collisions stops being an exception and a partitioned cache, with one
    /// owner deciding each key, has none.
    static let poorFitShare = 0.001

    var cache: String
    /// nil: no loaded unit of the cache announced itself.
    var measurement: CollisionSampling.Measurement?
    /// `--replication-latency-ms`, for a window in which no peer change was applied.
    var assumedLatencyMs: Double?

    /// RL: measured, or else assumed; nil when neither.
    var latency: (value: Duration, measured: Bool)? {
        if let measured = measurement?.replicationLatencyP99 { return (measured, true) }
        return assumedLatencyMs.map { (.milliseconds($0), false) }
    }

    func forecast(at rate: Double) -> CollisionForecast? {
        guard let measurement, measurement.cacheSize > 0, let latency else { return nil }
        return CollisionForecast(instances: measurement.units, updatesPerSecond: rate, cacheSize: measurement.cacheSize, replicationLatency: latency.value)
    }

    var poorFit: Bool {
        guard let measurement, let peak = forecast(at: measurement.peakRate) else { return false }
        let counted = measurement.changes > 0 ? Double(measurement.collisionsCounted) / measurement.changes : 0
        return peak.collisionShare >= Self.poorFitShare || counted >= Self.poorFitShare
    }

    var text: String {
        guard let measurement else {
            return "\(cache) (replicated): no loaded unit announced itself within the member timeout (or, with --prometheus, exported the cache's metrics); start its units (or widen --member-timeout-ms) and measure again"
        }
        guard measurement.units > 0 else {
            return (["\(cache) (replicated): not measured"] + measurement.unreachable.map { "  not read: \($0)" }).joined(separator: "\n")
        }
        let seconds = measurement.window.inSeconds
        func rate(_ value: Double) -> String { String(format: "%.1f/s", value) }
        func expected(_ label: String, _ rate: Double) -> String {
            guard let forecast = forecast(at: rate) else { return "-" }
            return "\(String(format: "%.1f", forecast.collisionsPerHour))/hour \(label) (\(PlanCommand.Collisions.significant(forecast.collisionShare * 100))%)"
        }
        var rows = [
            ("Update rate (UR)", "\(rate(measurement.normalRate)) normal, \(rate(measurement.peakRate)) peak, \(rate(measurement.minimumRate)) minimum"),
            ("Cache size (S)", measurement.cacheSize > 0 ? "\(PlanCommand.Collisions.grouped(Double(measurement.cacheSize))) entities (the largest replica)" : "empty: no forecast"),
        ]
        switch latency {
        case let (value, true)?:
            rows.append(("Replication latency (RL)", "p99 \(String(format: "%.1f", value.inSeconds * 1000)) ms, over \(PlanCommand.Collisions.grouped(Double(measurement.peerChangesApplied))) changes applied from peers"))
        case let (value, false)?:
            rows.append(("Replication latency (RL)", "\(String(format: "%.1f", value.inSeconds * 1000)) ms as given (no unit applied a peer's change in the window)"))
        case nil:
            rows.append(("Replication latency (RL)", "not measured (no unit applied a peer's change in the window); give --replication-latency-ms to forecast"))
        }
        rows.append(("Expected collisions", forecast(at: measurement.normalRate) == nil ? "-" : [
            expected("normal", measurement.normalRate), expected("peak", measurement.peakRate), expected("minimum", measurement.minimumRate),
        ].joined(separator: ", ")))
        let countedPerHour = seconds > 0 ? Double(measurement.collisionsCounted) * 3_600 / seconds : 0
        rows.append(("Counted collisions", "\(measurement.collisionsCounted) in \(String(format: "%.1f", seconds)) s (\(String(format: "%.1f", countedPerHour))/hour)"))
        let width = rows.map(\.0.count).max() ?? 0
        var lines = ["\(cache) (replicated): \(measurement.units) unit\(measurement.units == 1 ? "" : "s"), \(String(format: "%.1f", seconds)) s measured in \(measurement.intervals) interval\(measurement.intervals == 1 ? "" : "s")"]
        lines += rows.map { "  " + $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }
        lines += measurement.unreachable.map { "  not read: \($0)" }
        if poorFit {
            lines.append("  warning: at this load \(PlanCommand.Collisions.significant(Self.poorFitShare * 100))% or more of the updates collide; replicated caching is a poor fit for \(cache): declare it mode: partitioned (docs/units.md), where one owner decides each key")
        }
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        guard let measurement else { return .object(["cache": .string(cache), "units": .int(0)]) }
        func forecast(_ rate: Double) -> JSONValue {
            guard let forecast = self.forecast(at: rate) else { return .null }
            return .object(["updatesPerSecond": .double(rate), "collisionsPerHour": .double(forecast.collisionsPerHour), "collisionPercent": .double(forecast.collisionShare * 100)])
        }
        return .object([
            "cache": .string(cache),
            "units": .int(Int64(measurement.units)),
            "windowSeconds": .double(measurement.window.inSeconds),
            "changes": .int(Int64(measurement.changes.rounded())),
            "intervals": .int(Int64(measurement.intervals)),
            "updatesPerSecond": .object(["normal": .double(measurement.normalRate), "peak": .double(measurement.peakRate), "minimum": .double(measurement.minimumRate)]),
            "cacheSize": .int(Int64(measurement.cacheSize)),
            "replicationLatencyMs": latency.map { .double($0.value.inSeconds * 1000) } ?? .null,
            "replicationLatencyMeasured": .bool(latency?.measured ?? false),
            "peerChangesApplied": .int(Int64(measurement.peerChangesApplied)),
            "expected": .object(["normal": forecast(measurement.normalRate), "peak": forecast(measurement.peakRate), "minimum": forecast(measurement.minimumRate)]),
            "collisionsCounted": .int(Int64(measurement.collisionsCounted)),
            "poorFit": .bool(poorFit),
            "unreachable": .array(measurement.unreachable.map { .string($0) }),
        ])
    }
}

extension CollisionPlan {
    /// A plan for each of `caches` (replicated ones) from the loaded units `status` heard,
    /// every cache measured over the same window at once.
    static func measure(
        _ caches: [CacheConfiguration], in status: PipelineStatus, window: Duration, interval: Duration, assumedLatencyMs: Double?
    ) async -> [CollisionPlan] {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let plans = await withTaskGroup(of: (Int, CollisionPlan).self) { group in
            for (index, cache) in caches.enumerated() {
                let name = cache.contract.rawValue
                let members = status.caches.first { $0.name.isSameBytes(as: name) }?.members.filter(\.loaded) ?? []
                group.addTask {
                    guard !members.isEmpty else { return (index, CollisionPlan(cache: name, measurement: nil, assumedLatencyMs: assumedLatencyMs)) }
                    let sampling = CollisionSampling(
                        cache: name, units: members.map { CollisionSampling.Unit(id: $0.id, address: $0.address) }, window: window, interval: interval
                    )
                    return (index, CollisionPlan(cache: name, measurement: await sampling.run(client: client), assumedLatencyMs: assumedLatencyMs))
                }
            }
            var plans: [(Int, CollisionPlan)] = []
            for await plan in group { plans.append(plan) }
            return plans.sorted { $0.0 < $1.0 }.map(\.1)
        }
        try? await client.shutdown()
        return plans
    }
}

extension CollisionPlan {
    /// A plan for each of `caches` from a Prometheus server, over the window ending now.
    static func query(_ server: String, caches: [CacheConfiguration], window: Duration, interval: Duration, assumedLatencyMs: Double?) async -> [CollisionPlan] {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(3))))
        var plans: [CollisionPlan] = []
        for cache in caches {
            let query = PrometheusCollisionQuery(server: server, cache: cache.contract.rawValue, window: window, interval: interval)
            plans.append(CollisionPlan(cache: cache.contract.rawValue, measurement: await query.run(client: client), assumedLatencyMs: assumedLatencyMs))
        }
        try? await client.shutdown()
        return plans
    }
}
