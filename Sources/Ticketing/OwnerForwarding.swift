import AsyncHTTPClient
import Hummingbird
import Metrics
import NIOCore

/// Passes a request that another unit decides (the box office answered `misdirected`)
/// to that unit, so the caller sees one answer wherever its request landed: the
/// messaging grid's routing for partitioned caches.
///
/// One hop at most. A forwarded request carries `x-pumphouse-forwarded`; a unit that is
/// not the owner either answers it `misdirected` (421) instead of passing it on, so a
/// request never circles while ownership moves, and the caller retries.
public struct OwnerForwarding: RouterMiddleware {
    public typealias Context = BasicRequestContext

    static let forwarded = HTTPFields.Element.Name("x-pumphouse-forwarded")!
    /// Box-office request bodies are a few dozen bytes; anything near this is not one.
    static let maxBody = 64 << 10
    let timeout: TimeAmount

    public init(timeout: Duration = .seconds(10)) {
        self.timeout = .nanoseconds(Int64(timeout / .nanoseconds(1)))
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        // Kept, so the request can still be sent on after the route has read it.
        let body = try await request.collectBody(upTo: Self.maxBody)
        do {
            return try await next(request, context)
        } catch BoxOfficeError.misdirected(let owner, let address?) where request.headers[Self.forwarded] == nil {
            return try await forward(request, body: body, to: address, owner: owner)
        } catch let error as BoxOfficeError {
            if case .misdirected = error { Self.refusedCount.increment() }
            throw error
        }
    }

    /// `pumphouse_ticketing_forwarded_requests_total{outcome}`: `forwarded` (the owner's
    /// answer passed back), `failed` (the owner could not be reached: 503), `refused`
    /// (421: a forwarded request reached a non-owner, or no owner's address is known).
    private static let forwardedCount = outcome("forwarded")
    private static let failedCount = outcome("failed")
    private static let refusedCount = outcome("refused")

    private static func outcome(_ name: String) -> Counter {
        Counter(label: "pumphouse_ticketing_forwarded_requests_total", dimensions: [("outcome", name)])
    }

    private func forward(_ request: Request, body: ByteBuffer, to address: String, owner: String?) async throws -> Response {
        var outgoing = HTTPClientRequest(url: "http://\(address)\(request.uri)")
        outgoing.method = .init(rawValue: request.method.rawValue)
        if let type = request.headers[.contentType] { outgoing.headers.add(name: "content-type", value: type) }
        outgoing.headers.add(name: Self.forwarded.canonicalName, value: "1")
        outgoing.body = .bytes(body)
        let answer: HTTPClientResponse
        let answerBody: ByteBuffer
        do {
            answer = try await HTTPClient.shared.execute(outgoing, timeout: timeout)
            answerBody = try await answer.body.collect(upTo: 1 << 20)
        } catch {
            Self.failedCount.increment()
            throw BoxOfficeError.unavailable("unit \(owner ?? "?") decides this request, and forwarding it to \(address) failed (\(error)); retry in a moment")
        }
        Self.forwardedCount.increment()
        var headers = HTTPFields()
        if let type = answer.headers.first(name: "content-type") { headers[.contentType] = type }
        if let retry = answer.headers.first(name: "retry-after") { headers[.retryAfter] = retry }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(byteBuffer: answerBody))
    }
}
