import Foundation
import Hummingbird
import PumphouseTestSupport
import Synchronization
import Testing

/// `plan collisions --from-pipeline F --prometheus URL` against a stand-in for
/// Prometheus's HTTP API that answers each query the way a server scraping five units
/// would. The pipeline's units are not involved (the inputs come from the server); the
/// pipeline file names the stack's broker and database, so the suite runs with it.
@Suite("Collision planning from a Prometheus server", .localStack, .removingWhatItMakes, .serialized)
struct PrometheusCollisionTests {
    /// What the stand-in answers to a query naming each metric, and the queries it got.
    final class StandIn: Sendable {
        let queries = Mutex<[String]>([])
        let answers: Mutex<[(fragment: String, value: String?)]>
        let refuse = Atomic(false)

        init(_ answers: [(String, String?)]) { self.answers = Mutex(answers.map { ($0.0, $0.1) }) }

        func answer(_ query: String) -> String {
            queries.withLock { $0.append(query) }
            if refuse.load(ordering: .relaxed) { return #"{"status":"error","errorType":"bad_data","error":"parse error at char 7"}"# }
            let value = answers.withLock { answers in answers.first { query.contains($0.fragment) }?.value }
            guard let value else { return #"{"status":"success","data":{"resultType":"vector","result":[]}}"# }
            return #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764900000,"\#(value)"]}]}}"#
        }
    }

    func serving<T>(_ standIn: StandIn, _ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("/api/v1/query") { request, _ in
            let query = request.uri.queryParameters.get("query") ?? ""
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: standIn.answer(query))))
        }
        let port = try FreePort.find()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        _ = try await waitFor("the stand-in to listen", timeout: .seconds(10)) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(20))
            return (try? await JSONOverHTTP.get(port, "/api/v1/query?query=up")) != nil ? true : nil
        }
        standIn.queries.withLock { $0 = [] }
        return try await body("http://127.0.0.1:\(port)")
    }

    @Test("the chapter's worked example, read from Prometheus: five units, 20 updates/s, 50,000 rows, 100 ms give 14.4 collisions an hour, beside those counted; every query names the cache; an empty latency histogram is not measured; a server that refuses a query or is unreachable is named (exit 1); --prometheus without --from-pipeline or not a base URL is refused (exit 2)")
    func fromPrometheus() async throws {
        let fixture = try await StatusFixture(createTopics: false)
        let standIn = StandIn([
            ("count(pumphouse_unit_cache_entities", "5"), ("sum(increase(pumphouse_unit_changes_total", "72000"),
            ("max_over_time(", "25"), ("min_over_time(", "10"), ("max(pumphouse_unit_cache_entities", "50000"),
            ("histogram_quantile(0.99", "0.1"), ("pumphouse_unit_replication_lag_seconds_count", "9000"), ("pumphouse_unit_collisions_total", "3"),
        ])
        try await serving(standIn) { url in
            let run = try await PumphouseProcess.run(["plan", "collisions", "--from-pipeline", fixture.config, "--prometheus", url, "--window-s", "3600", "--interval-s", "60", "--json"])
            try #require(run.status == 0, "\(run.output)\(run.errors)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            let cache = try #require((json["caches"] as? [[String: Any]])?.first)
            #expect(cache["units"] as? Int == 5 && cache["cacheSize"] as? Int == 50_000 && cache["collisionsCounted"] as? Int == 3, "\(cache)")
            #expect(cache["replicationLatencyMs"] as? Double == 100 && cache["peerChangesApplied"] as? Int == 9000, "\(cache)")
            let expected = try #require(cache["expected"] as? [String: [String: Double]])
            #expect(expected["normal"]?["collisionsPerHour"].map { abs($0 - 14.4) < 1e-9 } == true, "\(expected)")
            #expect(expected["peak"]?["updatesPerSecond"] == 25 && expected["minimum"]?["updatesPerSecond"] == 10, "\(expected)")
            let queries = standIn.queries.withLock { $0 }
            #expect(queries.count == 8 && queries.allSatisfy { $0.contains(#"{cache="bench.Account"}"#) }, "\(queries)")
            #expect(queries.contains { $0.contains("[3600s:60s]") } && queries.contains { $0.contains("[3600s]") }, "\(queries)")

            standIn.answers.withLock { $0.removeAll { $0.fragment == "histogram_quantile(0.99" } ; $0.append(("histogram_quantile(0.99", "NaN")) }
            let noLag = try await PumphouseProcess.run(["plan", "collisions", "--from-pipeline", fixture.config, "--prometheus", url, "--window-s", "60"])
            #expect(noLag.status == 0 && noLag.output.contains("Replication latency (RL):  not measured"), "\(noLag.output)\(noLag.errors)")

            standIn.refuse.store(true, ordering: .relaxed)
            let refused = try await PumphouseProcess.run(["plan", "collisions", "--from-pipeline", fixture.config, "--prometheus", url, "--window-s", "60"])
            #expect(refused.status == 1 && refused.output.contains("refused the query: parse error at char 7"), "\(refused.output)\(refused.errors)")
        }
        let closed = try FreePort.find()
        let unreachable = try await PumphouseProcess.run(["plan", "collisions", "--from-pipeline", fixture.config, "--prometheus", "http://127.0.0.1:\(closed)", "--window-s", "60"])
        #expect(unreachable.status == 1 && unreachable.output.contains("GET http://127.0.0.1:\(closed)/api/v1/query failed"), "\(unreachable.output)\(unreachable.errors)")
        for (arguments, named) in [
            (["--prometheus", "http://127.0.0.1:9090", "--instances", "5", "--update-rate", "1", "--cache-size", "1", "--replication-latency-ms", "1"], "--prometheus needs --from-pipeline"),
            (["--from-pipeline", fixture.config, "--prometheus", "prometheus:9090"], "--prometheus must be the server's base URL"),
        ] {
            let refused = try await PumphouseProcess.run(["plan", "collisions"] + arguments)
            #expect(refused.status == 2 && refused.errors.contains(named), "\(arguments): \(refused.errors)")
        }
    }
}
