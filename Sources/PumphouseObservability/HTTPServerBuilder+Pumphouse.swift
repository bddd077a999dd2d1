import HummingbirdCore

extension HTTPServerBuilder {
    /// HTTP/1.1 that closes a connection idle between requests for two minutes, so clients
    /// that connect and go quiet cannot hold a service's sockets for ever. Longer than
    /// AsyncHTTPClient's pool keeps an idle connection (60 s), so a client of a Pumphouse
    /// service closes first and never sends a request down a connection being closed.
    public static var pumphouse: HTTPServerBuilder {
        .http1(configuration: .init(idleTimeout: .seconds(120)))
    }
}
