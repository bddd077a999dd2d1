import Foundation
import Hummingbird
import HummingbirdTesting
import PumphouseTestSupport
import Testing

@testable import PumphouseUnitHTTP

/// Forwarding alone, on routes that say where a request belongs: no units, no stack.
@Suite("Owner forwarding")
struct OwnerForwardingSoloTests {
    struct Misdirected: MisdirectedRequestError, JSONAPIError {
        var misdirection: Misdirection?
        var code: String { "misdirected" }
        var status: HTTPResponse.Status { .misdirectedRequest }
        var description: String { "elsewhere" }
    }

    /// A router whose purchase route says the request belongs to a unit at `address`.
    static func router(owner address: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OwnerForwarding(unit: "test-unit"))
        router.post("/purchase") { _, _ -> Response in
            throw Misdirected(misdirection: Misdirection(owner: "gone-unit", address: address, cache: "ticketing.Sale", partition: 3))
        }
        return router
    }

    @Test("a request for an owner nobody answers for (it died; its partitions have yet to fail over) gets a 503 naming the owner at once, not after the HTTP client's connection back-off")
    func deadOwner() async throws {
        // A port bound and never listened on: connecting is refused at once.
        let dead = try RefusingPort()
        defer { withExtendedLifetime(dead) {} }
        let address = "127.0.0.1:\(dead.port)"
        let app = Application(router: Self.router(owner: address))
        try await app.test(.router) { client in
            let started = ContinuousClock.now
            try await client.execute(uri: "/purchase", method: .post, body: ByteBuffer(string: "{}")) { response in
                let waited = ContinuousClock.now - started
                #expect(response.status == .serviceUnavailable, "\(String(buffer: response.body))")
                #expect(response.headers[.retryAfter] == "1")
                #expect(String(buffer: response.body).contains("gone-unit"), "the answer names the owner: \(String(buffer: response.body))")
                // A client that retries the connection (AsyncHTTPClient's default) gives
                // up only at its 10 s connect timeout; this one fails on the refusal, or
                // at worst after its 1 s connect timeout. The bound leaves room for a
                // test machine under load without letting the 10 s through.
                #expect(waited < .seconds(9), "a dead owner took \(waited) to be reported")
            }
        }
    }

    @Test("forwarding does not retry a refused connection: the client gives up at the first refusal, connecting takes at most 1 s, and an owner silent mid-answer at most 10 s")
    func forwardingClient() {
        let configuration = OwnerForwarding.clientConfiguration
        #expect(!configuration.connectionPool.retryConnectionEstablishment)
        #expect(configuration.timeout.connect == .seconds(1))
        #expect(configuration.timeout.read == .seconds(10))
    }

    @Test("an owner's answer larger than any buffer forwarding once kept (1 MiB) reaches the caller whole, with the owner's status")
    func largeAnswer() async throws {
        // 3 MiB of a repeating pattern, so a lost or reordered piece shows.
        let answer = ByteBuffer(bytes: (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let owner = Router()
        owner.post("/purchase") { _, _ -> Response in
            Response(status: .accepted, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: answer))
        }
        try await Application(router: owner).test(.live) { ownerClient in
            let port = try #require(ownerClient.port)
            try await Application(router: Self.router(owner: "127.0.0.1:\(port)")).test(.router) { client in
                try await client.execute(uri: "/purchase", method: .post, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .accepted)
                    #expect(response.headers[.contentType] == "application/octet-stream")
                    #expect(response.body.readableBytes == answer.readableBytes)
                    #expect(response.body == answer, "the forwarded body differs from the owner's")
                }
            }
        }
    }

    @Test("a request body over forwarding's limit is a 413 in the service's JSON, naming the limit; a route's own decode says the same at its limit")
    func bodyTooLarge() async throws {
        let app = Application(router: Self.router(owner: "127.0.0.1:1"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/purchase", method: .post, body: ByteBuffer(repeating: UInt8(ascii: " "), count: OwnerForwarding.maxBody + 1)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/json")
                let text = String(buffer: response.body)
                #expect(text.contains("too-large") && text.contains("\(OwnerForwarding.maxBody) bytes"), "\(text)")
            }
        }
        struct Order: Decodable { var seat: String }
        struct Refused: JSONAPIError {
            var description: String
            var code: String { "bad-request" }
            var status: HTTPResponse.Status { .badRequest }
        }
        let router = Router()
        router.post("/order") { request, context -> Response in
            let order = try await request.decodeJSON(Order.self, context: context) { Refused(description: $0) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: order.seat)))
        }
        try await Application(router: router).test(.router) { client in
            let limit = 2 << 20  // Hummingbird's default maxUploadSize, which BasicRequestContext keeps
            try await client.execute(uri: "/order", method: .post, body: ByteBuffer(string: "{\"seat\":\"" + String(repeating: "a", count: limit) + "\"}")) { response in
                #expect(response.status == .contentTooLarge, "\(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains("\(limit) bytes"))
            }
            try await client.execute(uri: "/order", method: .post, body: ByteBuffer(string: "{\"seat\":1}")) { response in
                #expect(response.status == .badRequest, "a body that does not decode is still the caller's mistake, 400")
            }
            // Two members of one name are ambiguous: Foundation alone would keep one.
            try await client.execute(uri: "/order", method: .post, body: ByteBuffer(string: "{\"seat\":\"A-1\",\"seat\":\"B-2\"}")) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("duplicate member"), "\(String(buffer: response.body))")
            }
            try await client.execute(uri: "/order", method: .post, body: ByteBuffer(string: "{\"seat\":\"A-1\"}")) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "A-1")
            }
        }
    }
}
