import AsyncHTTPClient
import Hummingbird
import Metrics
import NIOCore
import PumphouseContracts
import Synchronization

/// Where a request belongs that this unit does not decide: the owner of its key's
/// partition in a partitioned cache, as the unit's routing table knows it.
public struct Misdirection: Sendable, Equatable {
    /// The owning unit; nil while ownership moves.
    public var owner: String?
    /// The owner's `host:port`, if the member list knows it.
    public var address: String?
    /// The partitioned cache and the key's partition, for the forwarding metrics.
    public var cache: String
    public var partition: Int32

    public init(owner: String?, address: String?, cache: String, partition: Int32) {
        self.owner = owner
        self.address = address
        self.cache = cache
        self.partition = partition
    }
}

/// An error a route throws when another unit decides the request: `OwnerForwarding`
/// passes the request there, or lets the error answer (421) where it cannot.
public protocol MisdirectedRequestError: Error {
    /// Where the request belongs; nil for every other case of the error.
    var misdirection: Misdirection? { get }
}

/// Passes a request that another unit decides (a route threw a `MisdirectedRequestError`
/// with a misdirection) to that unit, so the caller sees one answer wherever its request
/// landed: the messaging grid's routing for partitioned caches.
///
/// One hop at most. A forwarded request carries `x-pumphouse-forwarded`; a unit that is
/// not the owner either answers it `misdirected` (421) instead of passing it on, so a
/// request never circles while ownership moves, and the caller retries.
public struct OwnerForwarding: RouterMiddleware {
    public typealias Context = BasicRequestContext

    static let forwarded = HTTPFields.Element.Name("x-pumphouse-forwarded")!
    /// Requests to a unit's own API are a few dozen bytes; anything near this is not one.
    static let maxBody = 64 << 10
    let timeout: TimeAmount
    private let counters: Counters

    /// - Parameter unit: the unit whose requests these are, as the metrics name it.
    public init(unit: String, timeout: Duration = .seconds(10)) {
        self.timeout = TimeAmount(timeout)
        self.counters = Counters(unit: unit)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        // Kept, so the request can still be sent on after the route has read it.
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBody)
        } catch is NIOTooManyBytesError {
            throw RequestBodyTooLarge(limit: Self.maxBody)
        }
        do {
            return try await next(request, context)
        } catch let error as any MisdirectedRequestError {
            guard let misdirection = error.misdirection else { throw error }
            // An owner named as this unit is one whose claim its cache has not made
            // current yet: the caller retries; a hop to itself would only be refused.
            let elsewhere = misdirection.owner.map { !$0.isSameBytes(as: counters.unit) } ?? true
            if elsewhere, let address = misdirection.address, request.headers[Self.forwarded] == nil {
                return try await forward(request, body: body, to: address, misdirection)
            }
            counters.count(.refused, misdirection)
            throw error
        }
    }

    /// `pumphouse_unit_forwarded_requests_total{unit, outcome, cache, partition}`:
    /// `forwarded` (the owner's answer passed back), `failed` (the owner could not be
    /// reached: 503), `refused` (421: a forwarded request reached a non-owner, or no
    /// owner's address is known). Counters are made on first use, one per outcome and
    /// partition, and kept.
    enum Outcome: String {
        case forwarded, failed, refused
    }

    private final class Counters: Sendable {
        struct Key: Hashable {
            var outcome: Outcome
            var cache: ExactKey
            var partition: Int32
        }

        let unit: String
        private let made = Mutex<[Key: Counter]>([:])

        init(unit: String) {
            self.unit = unit
        }

        func count(_ outcome: Outcome, _ misdirection: Misdirection) {
            let key = Key(outcome: outcome, cache: ExactKey(misdirection.cache), partition: misdirection.partition)
            let counter = made.withLock { made in
                if let counter = made[key] { return counter }
                let counter = Counter(
                    label: "pumphouse_unit_forwarded_requests_total",
                    dimensions: [("unit", unit), ("outcome", outcome.rawValue), ("cache", misdirection.cache), ("partition", String(misdirection.partition))]
                )
                made[key] = counter
                return counter
            }
            counter.increment()
        }
    }

    /// Forwarding's own client. An owner that cannot be reached (it died, and its
    /// partitions have not failed over yet) gets the caller a 503 at once: a default
    /// client keeps retrying the connection with back-off until its connect timeout
    /// (10 s), so during a failover every forwarded request would hang that long. A
    /// request's deadline ends once the answer's head is in, so the read timeout is what
    /// bounds an owner that stalls in the middle of its body (frozen, or cut off).
    static let clientConfiguration: HTTPClient.Configuration = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        configuration.timeout.read = .seconds(10)
        return configuration
    }()

    private static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

    /// One request from this unit to another, marked forwarded (so the other never
    /// passes it on), answered up to its head.
    static func send(_ method: HTTPRequest.Method, _ url: String, contentType: String?, body: ByteBuffer?, timeout: TimeAmount) async throws -> HTTPClientResponse {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = .init(rawValue: method.rawValue)
        if let contentType { outgoing.headers.add(name: "content-type", value: contentType) }
        outgoing.headers.add(name: forwarded.canonicalName, value: "1")
        if let body { outgoing.body = .bytes(body) }
        return try await client.execute(outgoing, timeout: timeout)
    }

    /// The owner's answer is passed back as it streams in, whatever its size (an
    /// auction's whole bid history, say): the caller gets what it would have got from
    /// the owner, and this unit holds no more of it than is in flight.
    private func forward(_ request: Request, body: ByteBuffer, to address: String, _ misdirection: Misdirection) async throws -> Response {
        let owner = misdirection.owner
        let answer: HTTPClientResponse
        do {
            answer = try await Self.send(request.method, "http://\(address)\(request.uri)", contentType: request.headers[.contentType], body: body, timeout: timeout)
        } catch {
            counters.count(.failed, misdirection)
            throw ForwardingFailed(description: "unit \(owner ?? "?") decides this request, and forwarding it to \(address) failed (\(error)); retry in a moment")
        }
        counters.count(.forwarded, misdirection)
        var headers = HTTPFields()
        if let type = answer.headers.first(name: "content-type") { headers[.contentType] = type }
        if let retry = answer.headers.first(name: "retry-after") { headers[.retryAfter] = retry }
        if let length = answer.headers.first(name: "content-length") { headers[.contentLength] = length }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(asyncSequence: answer.body))
    }
}

/// A request body over what the route takes: 413, naming the limit (Hummingbird's own
/// answer has no body to say so).
public struct RequestBodyTooLarge: JSONAPIError {
    public var limit: Int
    public var description: String { "the request body is larger than \(limit) bytes, the most this route takes; send a smaller one" }
    public var code: String { "too-large" }
    public var status: HTTPResponse.Status { .contentTooLarge }

    public init(limit: Int) {
        self.limit = limit
    }
}

/// The owner could not be reached: 503, retry in a moment (its partitions may be
/// failing over).
public struct ForwardingFailed: JSONAPIError {
    public var description: String
    public var code: String { "unavailable" }
    public var status: HTTPResponse.Status { .serviceUnavailable }
}
