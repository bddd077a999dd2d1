import Foundation
import Hummingbird
import HummingbirdTesting
import PumphouseTestSupport
import Testing
import Ticketing

/// Forwarding alone, on routes that say where a request belongs: no units, no stack.
@Suite("Owner forwarding")
struct OwnerForwardingTests {
    /// A router whose purchase route says the request belongs to a unit at `address`.
    static func router(owner address: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OwnerForwarding())
        router.post("/purchase") { _, _ -> Response in
            throw BoxOfficeError.misdirected(.init(owner: "gone-unit", address: address, cache: "ticketing.Sale", partition: 3))
        }
        return router
    }

    @Test("a request for an owner nobody answers for (it died; its partitions have yet to fail over) gets a 503 naming the owner at once, not after the HTTP client's connection back-off")
    func deadOwner() async throws {
        // A port that was free a moment ago: nothing listens there.
        let address = "127.0.0.1:\(try FreePort.find())"
        let app = Application(router: Self.router(owner: address))
        try await app.test(.router) { client in
            let started = ContinuousClock.now
            try await client.execute(uri: "/purchase", method: .post, body: ByteBuffer(string: "{}")) { response in
                let waited = ContinuousClock.now - started
                #expect(response.status == .serviceUnavailable, "\(String(buffer: response.body))")
                #expect(response.headers[.retryAfter] == "1")
                #expect(String(buffer: response.body).contains("gone-unit"), "the answer names the owner: \(String(buffer: response.body))")
                // The connect timeout alone is 1 s; a client that retries the
                // connection waits 10 s before it gives up.
                #expect(waited < .seconds(5), "a dead owner took \(waited) to be reported")
            }
        }
    }
}
