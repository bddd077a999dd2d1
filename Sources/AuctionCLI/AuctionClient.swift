import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import Synchronization

/// The demo's bidders' view of the units: JSON requests, round-robin over the units
/// unless one is named (every unit answers every request, forwarding it to the owner).
final class AuctionClient: Sendable {
    struct Reply: Sendable {
        let status: Int
        let body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    private let urls: [String]
    private let next = Atomic(0)
    private let http = HTTPClient(eventLoopGroupProvider: .singleton)

    init(urls: [String]) {
        self.urls = urls
    }

    /// The next unit in turn.
    var anyURL: String { urls[next.wrappingAdd(1, ordering: .relaxed).oldValue % urls.count] }

    func get(_ path: String, at url: String) async throws -> Reply {
        try await send(HTTPClientRequest(url: url + path))
    }

    func post(_ path: String, _ body: [String: any Sendable], at url: String) async throws -> Reply {
        var request = HTTPClientRequest(url: url + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> Reply {
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return Reply(status: Int(response.status.code), body: Data(buffer: body))
    }

    func shutdown() async {
        try? await http.shutdown()
    }
}
