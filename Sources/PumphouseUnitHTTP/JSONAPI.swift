import Foundation
import Hummingbird
import NIOCore
import PumphouseContracts

/// What a service built on processing units answers an error with: one HTTP status per
/// case, and `{"error": code, "detail": description}` as the body, so every route of the
/// service (and of the samples) fails alike. 503 and 421 say `Retry-After: 1`: the
/// unit is loading or stopping, or ownership is moving.
public protocol JSONAPIError: HTTPResponseError, CustomStringConvertible {
    /// A short, stable name of the case (`not-found`), for clients to branch on.
    var code: String { get }
}

extension JSONAPIError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(["error": code, "detail": description])
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .serviceUnavailable || status == .misdirectedRequest { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// A value as the response body, in the context's JSON encoding.
public struct JSONResponse<T: Encodable>: ResponseGenerator {
    public let value: T

    public init(_ value: T) {
        self.value = value
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try context.responseEncoder.encode(value, from: request, context: context)
    }
}

extension Request {
    /// The body as `T`, or the service's own error naming the fix: a body that does not
    /// decode is the caller's mistake, answered like any other.
    ///
    /// The body is read by the contracts' strict parser first: Foundation's decoder
    /// quietly keeps one of two members of the same name (`{"buyer":"a","buyer":"b"}`),
    /// and such a request is ambiguous, not one of its readings.
    public func decodeJSON<T: Decodable, Failure: Error>(
        _ type: T.Type, context: some RequestContext, orThrow failure: (_ problem: String) -> Failure
    ) async throws -> T {
        var request = self
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw RequestBodyTooLarge(limit: context.maxUploadSize)
        }
        do {
            _ = try JSONParser(maxBytes: context.maxUploadSize).parse(Array(body.readableBytesView))
        } catch {
            throw failure("expected JSON with \(T.self)'s fields, and the body is not strict JSON: \(error)")
        }
        do {
            return try await request.decode(as: type, context: context)
        } catch {
            throw failure("expected JSON with \(T.self)'s fields: \(error)")
        }
    }
}
