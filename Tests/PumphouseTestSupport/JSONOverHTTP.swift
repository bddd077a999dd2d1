import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// A service's answer as tests read it: the status and the body's JSON object (empty if
/// the body is not one).
public struct JSONAnswer: Sendable {
    public var status: Int
    public let body: Data

    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    /// The body's JSON array of objects (empty if the body is not one).
    public var objects: [[String: Any]] { (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] ?? [] }
}

/// JSON requests to a service on this host, for tests that drive units over real HTTP
/// (forwarding between them cannot be tested in-process).
public enum JSONOverHTTP {
    public static func post(_ port: Int, _ path: String, _ body: [String: any Sendable], headers: [(String, String)] = []) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        return try await answer(request)
    }

    public static func get(_ port: Int, _ path: String, headers: [(String, String)] = []) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await answer(request)
    }

    static func answer(_ request: HTTPClientRequest) async throws -> JSONAnswer {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return JSONAnswer(status: Int(response.status.code), body: Data(buffer: body))
    }
}
