import Foundation
import Hummingbird
import HummingbirdTesting
import PumphouseObservability
import PumphouseTestSupport
import Testing
import Ticketing

/// What anyone may call: the box office's API, the routing table and the operational
/// endpoints. Written out here rather than read from the code under test, so that a
/// route added without protection fails these tests until someone judges it public and
/// lists it.
let publicRoutes: Set<String> = [
    "GET /concerts", "POST /concerts", "GET /concerts/{concert}/summary", "GET /concerts/{concert}/seats",
    "POST /concerts/{concert}/seats/{seat}/reserve", "POST /concerts/{concert}/seats/{seat}/purchase",
    "POST /concerts/{concert}/seats/{seat}/release", "GET /routing", "GET /routing/{cache}", "GET /healthz", "GET /readyz", "GET /metrics",
    // An owner's share of a seat map, counts or layout (partitioned seats): no more than
    // the routes above reveal or do.
    "GET /grid/concerts/{concert}/seats", "GET /grid/concerts/{concert}/summary", "POST /grid/concerts/{concert}/layout",
]

/// A route's description with a value in each capture: `{concert}` becomes `concert`.
func requestPath(_ path: String) -> String {
    path.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
}

let goodToken = "0123456789abcdef0123456789abcdef"

@Suite("Admin credential: tokens read, compared and rotated")
struct AdminCredentialTests {
    func tokenFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admin-\(UUID().uuidString)").path
        try contents.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test("equal tokens only: a prefix, a longer token, one byte off and the empty token are refused")
    func comparison() throws {
        let credential = try AdminCredential(token: goodToken, variable: "T")
        #expect(credential.accepts(goodToken.utf8))
        #expect(!credential.accepts(goodToken.dropLast().utf8))
        #expect(!credential.accepts((goodToken + "0").utf8))
        #expect(!credential.accepts(("1" + goodToken.dropFirst()).utf8))
        #expect(!credential.accepts([UInt8]()))
        // Tokens are visible ASCII, so no two spellings of one text can both be one.
        #expect(throws: AdminCredentialError.self) { try AdminCredential(token: "caf\u{E9}-0123456789abcdef", variable: "T") }
    }

    @Test("a file's tokens: comments and blank lines skipped, surrounding spaces trimmed, every token accepted")
    func file() throws {
        let path = try tokenFile("# rotated 2026-12\n\n  \(goodToken)  \r\nfedcba9876543210fedcba9876543210\n")
        let credential = try AdminCredential(tokenFile: path)
        #expect(credential.accepts(goodToken.utf8))
        #expect(credential.accepts("fedcba9876543210fedcba9876543210".utf8))
        #expect(!credential.accepts("# rotated 2026-12".utf8))
    }

    @Test("bad files and tokens are refused naming the file, the line and the fix, never the token")
    func badInput() throws {
        let short = try tokenFile("\(goodToken)\nshort-secret\n")
        let error = try #require(throws: AdminCredentialError.self) { try AdminCredential(tokenFile: short) }
        #expect(error.description.contains("line 2") && error.description.contains(short) && error.description.contains("openssl rand"))
        #expect(!error.description.contains("short-secret"))
        let spaced = try tokenFile("two words 0123456789abcdef\n")
        #expect(throws: AdminCredentialError.self) { try AdminCredential(tokenFile: spaced) }
        let empty = try tokenFile("# nothing yet\n\n")
        let none = try #require(throws: AdminCredentialError.self) { try AdminCredential(tokenFile: empty) }
        #expect(none.description.contains("holds no token"))
        let missing = try #require(throws: AdminCredentialError.self) { try AdminCredential(tokenFile: "/nonexistent/admin-token") }
        #expect(missing.description.contains("cannot read") && missing.description.contains("--admin-token-file"))
        let variable = try #require(throws: AdminCredentialError.self) { try AdminCredential(token: "guessable", variable: "PUMPHOUSE_ADMIN_TOKEN") }
        #expect(variable.description.contains("PUMPHOUSE_ADMIN_TOKEN") && !variable.description.contains("guessable"))
        #expect(try AdminCredential.configured(tokenFile: nil, environment: [:]) == nil)
        #expect(try AdminCredential.configured(tokenFile: nil, environment: ["PUMPHOUSE_ADMIN_TOKEN": goodToken])?.accepts(goodToken.utf8) == true)
    }

    @Test("rotation through the file: a token added is accepted, a token removed is refused, a broken file opens nothing")
    func rotation() throws {
        let old = "old-token-0123456789abcdef"
        let new = "new-token-0123456789abcdef"
        let path = try tokenFile("\(old)\n")
        let credential = try AdminCredential(tokenFile: path, recheckInterval: .zero)
        #expect(credential.accepts(old.utf8) && !credential.accepts(new.utf8))
        try "\(old)\n\(new)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(credential.accepts(old.utf8) && credential.accepts(new.utf8), "both while clients move over")
        try "\(new)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(!credential.accepts(old.utf8) && credential.accepts(new.utf8), "the old one is gone")
        try "too-short\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(!credential.accepts(new.utf8) && !credential.accepts("too-short".utf8), "a broken file locks out until it is mended")
        try FileManager.default.removeItem(atPath: path)
        #expect(!credential.accepts(new.utf8))
        try "\(new)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(credential.accepts(new.utf8), "mended")
    }

    @Test("services without an API of their own, and the comparison servers, serve public routes only")
    func publicOnlyRouters() async throws {
        let endpoints = ServiceEndpoints.router { Readiness(isReady: true, reason: "ready") }
        #expect(Set(endpoints.routes.map(\.description)).isSubset(of: publicRoutes), "\(endpoints.routes)")
        let bare = TicketingAPI.routes(DictionaryBoxOffice(id: "bare"))
        let served = Set(bare.routes.map(\.description))
        #expect(served.isSubset(of: publicRoutes), "\(served.subtracting(publicRoutes))")
        #expect(served.contains("POST /concerts/{concert}/seats/{seat}/purchase"), "the walk sees the routes: \(served)")
    }
}

@Suite("Admin routes of the ticketing unit", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(3)))
struct AdminRoutesTests {
    @Test("every route of the unit: public ones answer anyone; every other one refuses without the token (403 with no credential configured, 401 with one) and opens to it")
    func everyRoute() async throws {
        let fixture = try await TicketingFixture()
        let office = try fixture.office("admin")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admin-\(UUID().uuidString)").path
        try "\(goodToken)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await fixture.running([office]) {
            for credential in [nil, try AdminCredential(tokenFile: path)] {
                let router = TicketingAPI.router(office, admin: credential)
                // As (method, path, description): the router's own descriptions are not Sendable.
                let routes = router.routes.map { (method: $0.method, path: requestPath($0.path.description), description: $0.description) }
                let guarded = routes.filter { !publicRoutes.contains($0.description) }
                #expect(guarded.map(\.description).sorted() == ["GET /admin/state", "GET /admin/undecided"], "the unit's non-public routes are the two known ones")
                try await Application(router: router).test(.router) { client in
                    for route in routes {
                        let uri = route.path
                        let status = try await client.execute(uri: uri, method: route.method) { $0.status }
                        if publicRoutes.contains(route.description) {
                            #expect(status != .unauthorized && status != .forbidden, "\(route.description) is public: \(status)")
                            continue
                        }
                        let challenge = try await client.execute(uri: uri, method: route.method) { response in
                            (response.status, response.headers[.wwwAuthenticate], String(buffer: response.body))
                        }
                        guard credential != nil else {
                            #expect(challenge.0 == .forbidden && challenge.2.contains("--admin-token-file"), "\(route.description) with no credential configured: \(challenge)")
                            continue
                        }
                        #expect(challenge.0 == .unauthorized && challenge.1?.hasPrefix("Bearer") == true, "\(route.description) without a token: \(challenge)")
                        for presented in ["Bearer " + goodToken.dropLast() + "0", "Basic " + goodToken, "Bearer", goodToken] {
                            let refused = try await client.execute(uri: uri, method: route.method, headers: [.authorization: presented]) { $0.status }
                            #expect(refused == .unauthorized, "\(route.description) with a wrong authorization: \(refused)")
                        }
                        let opened = try await client.execute(uri: uri, method: route.method, headers: [.authorization: "bearer " + goodToken]) { response in
                            (response.status, String(buffer: response.body))
                        }
                        #expect(opened.0 == .ok, "\(route.description) with the token: \(opened)")
                    }
                }
            }
        }
    }
}
