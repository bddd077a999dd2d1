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

    @Test("forwarding does not retry a refused connection: the client gives up at the first refusal, and connecting takes at most 1 s")
    func forwardingClient() {
        let configuration = OwnerForwarding.clientConfiguration
        #expect(!configuration.connectionPool.retryConnectionEstablishment)
        #expect(configuration.timeout.connect == .seconds(1))
    }
}
