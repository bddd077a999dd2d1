import AsyncHTTPClient
import Foundation
import PumphouseCommandLine
import PumphouseContracts
import PumphouseUnit

/// The collision forecast's inputs measured on a running pipeline, for one replicated
/// cache: its units' `/metrics` (at the address each announces) read at the start of a
/// window and after every interval until its end.
///
/// - N: the units holding the cache, as the member topic names them;
/// - UR: changes the units made to the cache (`pumphouse_unit_changes_total`, summed),
///   per second over the window (normal) and the highest and lowest over an interval
///   (peak and minimum), as the chapter asks for all three;
/// - S: entities the cache holds (`pumphouse_unit_cache_entities`, the largest replica);
/// - RL: the p99 of replication lag over the window, from the units' histograms of peer
///   changes applied (`pumphouse_unit_replication_lag_seconds`, added up);
/// - and the collisions the units counted meanwhile (`pumphouse_unit_collisions_total`):
///   every replica counts each collision it applies, so the largest count is the cache's.
struct CollisionSampling: Sendable {
    struct Unit: Sendable {
        var id: String
        var address: String
    }

    /// What one read of a unit's /metrics says of the cache.
    struct Reading: Sendable {
        var changes: Double
        var collisions: Double
        var entities: Double
        /// Cumulative count of peer changes applied by `le` (seconds).
        var lag: [Double: Double]
    }

    /// What a window measured, and what it did not; from the units' /metrics or from a
    /// Prometheus server (`PrometheusCollisionQuery`).
    struct Measurement: Sendable {
        var cache: String
        var units: Int
        var window: Duration
        /// Over how many intervals the peak and minimum rates were taken.
        var intervals: Int
        /// Changes made in the window.
        var changes: Double
        /// Changes per second: over the window, and the highest and lowest over an interval.
        var normalRate: Double
        var peakRate: Double
        var minimumRate: Double
        var cacheSize: Int
        /// nil when no peer change was applied in the window.
        var replicationLatencyP99: Duration?
        var peerChangesApplied: Int
        var collisionsCounted: Int
        /// Units whose /metrics did not answer, or queries that failed (named with why).
        var unreachable: [String]
    }

    let cache: String
    let units: [Unit]
    let window: Duration
    let interval: Duration

    func run(client: HTTPClient) async -> Measurement {
        // Units by their ids' bytes: two ids that differ only in normalization are two units.
        var unreachable: [ExactKey: String] = [:]
        func readAll() async -> [ExactKey: Reading] {
            await withTaskGroup(of: (String, Result<Reading, CollisionSamplingError>).self) { group in
                for unit in units {
                    group.addTask { (unit.id, await read(unit, client: client)) }
                }
                var readings: [ExactKey: Reading] = [:]
                for await (id, result) in group {
                    switch result {
                    case .success(let reading): readings[ExactKey(id)] = reading
                    case .failure(let error): unreachable[ExactKey(id)] = error.description
                    }
                }
                return readings
            }
        }
        let started = ContinuousClock.now
        let first = await readAll()
        var last = first
        var rates: [Double] = []
        var changes = 0.0
        var at = started
        while ContinuousClock.now - started < window {
            let next = min(at.advanced(by: interval), started.advanced(by: window))
            try? await Task.sleep(until: next)
            let readings = await readAll()
            let elapsed = ContinuousClock.now - at
            at = .now
            // A counter that went down restarted with its unit: all it counts is new.
            let delta = readings.reduce(0.0) { sum, entry in
                guard let before = last[entry.key] else { return sum }
                return sum + (entry.value.changes >= before.changes ? entry.value.changes - before.changes : entry.value.changes)
            }
            changes += delta
            if elapsed > .zero { rates.append(delta / elapsed.inSeconds) }
            last.merge(readings) { _, new in new }
        }
        var lag: [Double: Double] = [:]
        var collisions = 0.0
        for (id, end) in last {
            guard let start = first[id] else { continue }
            for (bound, count) in end.lag { lag[bound, default: 0] += max(0, count - (start.lag[bound] ?? 0)) }
            collisions = max(collisions, max(0, end.collisions - start.collisions))
        }
        let applied = lag[.infinity] ?? lag.values.max() ?? 0
        let measured = ContinuousClock.now - started
        let normal = measured > .zero ? changes / measured.inSeconds : 0
        return Measurement(
            cache: cache, units: units.count, window: measured, intervals: rates.count, changes: changes,
            normalRate: normal, peakRate: rates.max() ?? normal, minimumRate: rates.min() ?? normal,
            cacheSize: Int(last.values.map(\.entities).max() ?? 0), replicationLatencyP99: Self.quantile(0.99, of: lag),
            peerChangesApplied: Int(applied), collisionsCounted: Int(collisions),
            unreachable: unreachable.sorted { $0.key < $1.key }.map { "\($0.key.text): \($0.value)" }
        )
    }

    /// The `q` quantile of a cumulative histogram, interpolated within its bucket as
    /// Prometheus's `histogram_quantile` does; nil for an empty one.
    static func quantile(_ q: Double, of cumulative: [Double: Double]) -> Duration? {
        let buckets = cumulative.sorted { $0.key < $1.key }
        guard let total = buckets.last?.value, total > 0 else { return nil }
        let rank = q * total
        var lower = (bound: 0.0, count: 0.0)
        for (bound, count) in buckets {
            if count >= rank {
                // Above the highest finite bound nothing is known but that bound.
                guard bound.isFinite else { return .seconds(lower.bound) }
                let share = count > lower.count ? (rank - lower.count) / (count - lower.count) : 1
                return .seconds(lower.bound + (bound - lower.bound) * share)
            }
            lower = (bound, count)
        }
        return nil
    }

    /// One unit's /metrics, read for the cache.
    private func read(_ unit: Unit, client: HTTPClient) async -> Result<Reading, CollisionSamplingError> {
        let text: String
        do {
            let response = try await client.execute(HTTPClientRequest(url: "http://\(unit.address)/metrics"), timeout: .seconds(2))
            guard response.status == .ok else { return .failure(CollisionSamplingError(description: "GET http://\(unit.address)/metrics answered \(response.status.code)")) }
            text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        } catch {
            return .failure(CollisionSamplingError(description: "GET http://\(unit.address)/metrics failed (\(error)); start the unit with --http-port and --address naming that port"))
        }
        func total(_ metric: String) -> Double? {
            let samples = PrometheusSample.samples(of: metric, in: text).filter { $0.label("cache").map { $0.isSameBytes(as: cache) } ?? false }
            return samples.isEmpty ? nil : samples.reduce(0) { $0 + $1.value }
        }
        guard let changes = total("pumphouse_unit_changes_total") else {
            return .failure(CollisionSamplingError(description: "its /metrics at \(unit.address) has no pumphouse_unit_changes_total for \(cache) (a unit from before that metric?)"))
        }
        var lag: [Double: Double] = [:]
        for sample in PrometheusSample.samples(of: "pumphouse_unit_replication_lag_seconds_bucket", in: text) where sample.label("cache").map({ $0.isSameBytes(as: cache) }) ?? false {
            guard let le = sample.label("le"), let bound = le.isSameBytes(as: "+Inf") ? Double.infinity : Double(le) else { continue }
            lag[bound, default: 0] += sample.value
        }
        let reading = Reading(
            changes: changes, collisions: total("pumphouse_unit_collisions_total") ?? 0, entities: total("pumphouse_unit_cache_entities") ?? 0, lag: lag
        )
        // Read as counts further on (whole numbers of changes, entities, collisions): a
        // value that cannot be one (1e19, +Inf, NaN, negative) would trap there.
        guard ([reading.changes, reading.collisions, reading.entities] + Array(lag.values)).allSatisfy(Self.isCount) else {
            return .failure(CollisionSamplingError(description: "its /metrics at \(unit.address) holds a value for \(cache) that is not a count (not finite, negative, or above 2^53)"))
        }
        return .success(reading)
    }

    /// Whether `value` can stand for a count: finite, not negative, and at most 2^53,
    /// where doubles still hold every whole number (and sums of a few stay within Int).
    static func isCount(_ value: Double) -> Bool {
        value.isFinite && value >= 0 && value <= 9_007_199_254_740_992
    }
}

struct CollisionSamplingError: Error, CustomStringConvertible {
    var description: String
    /// The server did not answer at all (rather than answering with a refusal).
    var unreachable = false
}
