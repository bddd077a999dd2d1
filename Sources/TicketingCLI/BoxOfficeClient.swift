import AsyncHTTPClient
import Foundation
import PumphouseCommandLine
import NIOCore
import NIOHTTP1
import Synchronization

/// The demo's buyers' view of the messaging grid: requests go round-robin across the
/// units (the built-in stand-in for the nginx config in deploy/nginx), or all to one
/// gateway URL. Every request's latency is kept for the summary.
final class BoxOfficeClient: Sendable {
    struct Reply: Sendable {
        let status: Int
        let body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    private let client: HTTPClient
    private let targets: [String]
    private let next = Atomic<Int>(0)
    private let latencies = Mutex<[Duration]>([])
    private let timeout: TimeAmount
    /// Sent as a bearer token with every request under /admin/ (the units' non-public
    /// routes).
    private let adminToken: String?

    init(targets: [String], connectionsPerUnit: Int = 64, timeout: Duration = .seconds(15), adminToken: String? = nil) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerUnit)
        // A unit that is gone is reported at once, for the caller to try another: by
        // default the pool retries a refused connection until the request's timeout,
        // so a request sent to a unit just killed waited 10 s in the rebalancing
        // benchmark instead of going to a survivor.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.targets = targets
        self.adminToken = adminToken
        self.timeout = .milliseconds(Int64(timeout / .milliseconds(1)))
    }

    /// The next unit in turn.
    func anyUnit() -> String { targets[next.add(1, ordering: .relaxed).oldValue % targets.count] }

    func get(_ path: String, at base: String? = nil) async throws -> Reply {
        try await send(.GET, path, body: nil, at: base)
    }

    func post(_ path: String, _ body: [String: Any], at base: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send(.POST, path, body: try JSONSerialization.data(withJSONObject: body), at: base, headers: headers)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data?, at base: String?, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: (base ?? anyUnit()) + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let adminToken, path.hasPrefix("/admin/") { request.headers.add(name: "authorization", value: "Bearer \(adminToken)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let started = ContinuousClock.now
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let elapsed = ContinuousClock.now - started
        latencies.withLock { $0.append(elapsed) }
        return Reply(status: Int(response.status.code), body: Array(buffer: bytes))
    }

    /// Opens a benchmark's concert `id` (`rows` of `seatsPerRow` seats at 45.00, a day
    /// from now) at `url`; throws unless it is created.
    func openBenchmarkConcert(_ id: String, name: String, rows: Int, seatsPerRow: Int, at url: String) async throws {
        let opened = try await post("/concerts", [
            "id": id, "name": name, "venue": "Benchmark Hall", "startsAt": Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000,
            "price": 4500, "rows": rows, "seatsPerRow": seatsPerRow,
        ], at: url)
        guard opened.status == 201 else { throw DemoFailure("opening concert \(id) at \(url): HTTP \(opened.status) \(String(decoding: opened.body.prefix(300), as: UTF8.self))") }
    }

    /// Opens enough concerts for `buyers` seats, one seat each (the largest hall the box
    /// office takes is 26 rows of 500, so a larger run opens several), named `run-0`,
    /// `run-1` and so on, at each of `openAt` (box offices that share nothing need them
    /// at every process), and returns their ids once every one of `visibleAt` shows every
    /// seat: buyers must not arrive before their seats exist where they ask.
    func openBenchmarkConcerts(run: String, buyers: Int, openAt: [String], visibleAt: [String], timeout: Duration) async throws -> [String] {
        var ids: [String] = []
        var left = buyers
        while left > 0 {
            let seats = min(left, 26 * 500)
            let seatsPerRow = min(seats, 500)
            let rows = (seats + seatsPerRow - 1) / seatsPerRow
            let id = "\(run)-\(ids.count)"
            for url in openAt {
                try await openBenchmarkConcert(id, name: "On-sale \(id)", rows: rows, seatsPerRow: seatsPerRow, at: url)
            }
            let deadline = ContinuousClock.now + timeout
            for url in visibleAt {
                while true {
                    let map = try await get("/concerts/\(id)/seats", at: url)
                    if map.status == 200, let list = (try? JSONSerialization.jsonObject(with: Data(map.body))) as? [Any], list.count == rows * seatsPerRow { break }
                    guard ContinuousClock.now < deadline else { throw DemoFailure("\(url) did not show the \(rows * seatsPerRow) seats of \(id) within \(timeout)") }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            ids.append(id)
            left -= seats
        }
        return ids
    }

    /// Latencies recorded since the last call, and forgets them.
    func takeLatencies() -> [Duration] {
        latencies.withLock { latencies in
            defer { latencies = [] }
            return latencies
        }
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
