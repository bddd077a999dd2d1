import Foundation
import Hummingbird
import NIOCore

/// Lets a request through only with `Authorization: Bearer <token>` naming one of the
/// credential's tokens. Put it on the group of a service's non-public routes; the public
/// API and the operational endpoints (`/healthz`, `/readyz`, `/metrics`) stay outside.
///
/// Without a credential (none configured) every request is refused with 403 and how to
/// configure one, so a service started without one exposes nothing private. A missing
/// or wrong token gets 401 with a `WWW-Authenticate` challenge. Bodies are JSON in the
/// services' error shape, `{"error": code, "detail": text}`; nothing presented is echoed.
package struct AdminOnly<Context: RequestContext>: RouterMiddleware {
    let credential: AdminCredential?

    package init(_ credential: AdminCredential?) {
        self.credential = credential
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let credential else {
            return try Self.refusal(
                .forbidden, "forbidden",
                "this route is not public, and this service was started without an admin credential; start it with --admin-token-file FILE or \(AdminCredential.environmentVariable) set"
            )
        }
        guard let token = Self.bearerToken(request.headers[.authorization]), credential.accepts(token.utf8) else {
            // Where the tokens come from is the operator's to know, not the caller's.
            var response = try Self.refusal(.unauthorized, "unauthorized", "this route is not public: send Authorization: Bearer with one of this service's admin tokens")
            response.headers[.wwwAuthenticate] = "Bearer realm=\"pumphouse-admin\""
            return response
        }
        return try await next(request, context)
    }

    /// The token of a `Bearer` authorization (the scheme's case ignored, as RFC 9110 asks).
    static func bearerToken(_ authorization: String?) -> Substring? {
        guard let authorization else { return nil }
        let scheme = Array("bearer ".utf8)
        let presented = Array(authorization.utf8.prefix(scheme.count))
        guard presented.count == scheme.count,
              zip(presented, scheme).allSatisfy({ byte, lower in byte == lower || (lower != UInt8(ascii: " ") && byte == lower - 0x20) })
        else { return nil }
        return authorization.dropFirst(scheme.count).drop(while: { $0 == " " })
    }

    private struct Refusal: Encodable {
        var error: String
        var detail: String
    }

    private static func refusal(_ status: HTTPResponse.Status, _ code: String, _ detail: String) throws -> Response {
        let body = try JSONEncoder().encode(Refusal(error: code, detail: detail))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
