import AsyncHTTPClient
import Foundation
import PumphouseContracts

/// The collision forecast's inputs for one replicated cache from a Prometheus server that
/// scrapes the units, over a window ending now: the same metrics `CollisionSampling`
/// reads from the units themselves, through Prometheus's HTTP API (`/api/v1/query`), so
/// the window may be hours long and the units need not be reachable from here.
///
/// - N: the units exporting the cache's entity gauge now;
/// - UR: `increase` of `pumphouse_unit_changes_total` over the window, summed, per second;
///   the peak and minimum are the highest and lowest of its `rate` over each interval;
/// - S: the largest replica's `pumphouse_unit_cache_entities`;
/// - RL: `histogram_quantile(0.99, …)` of the replication-lag buckets' increase;
/// - counted collisions: the largest `increase` of `pumphouse_unit_collisions_total`
///   (every replica counts each collision it applies).
struct PrometheusCollisionQuery: Sendable {
    let server: String
    let cache: String
    let window: Duration
    let interval: Duration

    /// The PromQL of each input, by name.
    var queries: [(name: String, query: String)] {
        let selector = "{cache=\"\(Self.escaped(cache))\"}"
        let range = "\(Int64(window.inSeconds.rounded()))s"
        let step = "\(Int64(interval.inSeconds.rounded()))s"
        return [
            ("units", "count(pumphouse_unit_cache_entities\(selector))"),
            ("changes", "sum(increase(pumphouse_unit_changes_total\(selector)[\(range)]))"),
            ("peak", "max_over_time(sum(rate(pumphouse_unit_changes_total\(selector)[\(step)]))[\(range):\(step)])"),
            ("minimum", "min_over_time(sum(rate(pumphouse_unit_changes_total\(selector)[\(step)]))[\(range):\(step)])"),
            ("entities", "max(pumphouse_unit_cache_entities\(selector))"),
            ("latency", "histogram_quantile(0.99, sum by (le) (increase(pumphouse_unit_replication_lag_seconds_bucket\(selector)[\(range)])))"),
            ("applied", "sum(increase(pumphouse_unit_replication_lag_seconds_count\(selector)[\(range)]))"),
            ("collisions", "max(increase(pumphouse_unit_collisions_total\(selector)[\(range)]))"),
        ]
    }

    /// A label value as PromQL's double-quoted strings take it.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The measurement, or why the server could not give it (unreachable, an error
    /// answer): a failed query is named in `unreachable`, and its input counts as none.
    func run(client: HTTPClient) async -> CollisionSampling.Measurement? {
        var values: [String: Double] = [:]
        var failed: [String] = []
        queries: for (name, query) in queries {
            switch await value(of: query, client: client) {
            case .success(let value?): values[name] = value
            case .success(nil): break
            case .failure(let error):
                failed.append("\(name): \(error.description)")
                // A server that cannot be reached will not answer the next query either.
                if error.unreachable { break queries }
            }
        }
        guard let units = values["units"], units >= 1 else {
            return failed.isEmpty ? nil : CollisionSampling.Measurement(
                cache: cache, units: 0, window: window, intervals: 0, changes: 0, normalRate: 0, peakRate: 0, minimumRate: 0, cacheSize: 0,
                replicationLatencyP99: nil, peerChangesApplied: 0, collisionsCounted: 0, unreachable: failed
            )
        }
        let changes = values["changes"] ?? 0
        let normal = window > .zero ? changes / window.inSeconds : 0
        return CollisionSampling.Measurement(
            cache: cache, units: Int(units), window: window, intervals: max(1, Int((window / interval).rounded(.down))), changes: changes,
            normalRate: normal, peakRate: values["peak"] ?? normal, minimumRate: values["minimum"] ?? normal,
            cacheSize: Int(values["entities"] ?? 0), replicationLatencyP99: values["latency"].flatMap { $0 < 1e9 ? .nanoseconds(Int64(($0 * 1e9).rounded())) : nil },
            peerChangesApplied: Int((values["applied"] ?? 0).rounded()), collisionsCounted: Int((values["collisions"] ?? 0).rounded()), unreachable: failed
        )
    }

    /// The single value of an instant query; nil for an empty result or NaN (an empty
    /// histogram's quantile).
    private func value(of query: String, client: HTTPClient) async -> Result<Double?, CollisionSamplingError> {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "query", value: query)]
        // `+` in a query string is a space to most servers: encode it as well.
        let encoded = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let url = "\(server.hasSuffix("/") ? String(server.dropLast()) : server)/api/v1/query?\(encoded)"
        let body: [UInt8]
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            body = Array(buffer: try await response.body.collect(upTo: 4 << 20))
        } catch {
            return .failure(CollisionSamplingError(description: "GET \(server)/api/v1/query failed (\(error)); is --prometheus the server's base URL?", unreachable: true))
        }
        guard case .object(let answer)? = try? JSONParser().parse(body) else {
            return .failure(CollisionSamplingError(description: "\(server) answered something that is not Prometheus's JSON"))
        }
        guard answer["status"]?.stringValue.map({ $0.isSameBytes(as: "success") }) == true else {
            return .failure(CollisionSamplingError(description: "\(server) refused the query: \(answer["error"]?.stringValue ?? "no reason given")"))
        }
        guard case .object(let data)? = answer["data"], case .array(let result)? = data["result"] else {
            return .failure(CollisionSamplingError(description: "\(server) answered without data.result"))
        }
        guard case .object(let first)? = result.first, case .array(let pair)? = first["value"], pair.count == 2,
              let text = pair[1].stringValue, let value = Double(text)
        else { return .success(nil) }
        if value.isNaN { return .success(nil) }
        // Every query asks for a count or a latency in seconds, each read as a whole
        // number further on: beyond these it would trap there.
        guard CollisionSampling.isCount(value) else {
            return .failure(CollisionSamplingError(description: "\(server) answered \(text) for \(query), which is not a count (not finite, negative, or above 2^53)"))
        }
        return .success(value)
    }
}
