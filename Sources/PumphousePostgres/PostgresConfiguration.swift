import CLibPQ
import PumphouseBlocking

/// How to reach PostgreSQL.
public struct PostgresConfiguration: Sendable, Hashable {
    /// A libpq connection URL (`postgresql://user:password@host:port/db?sslmode=require`)
    /// or a `key=value` connection string. TLS and every other libpq parameter pass
    /// through it unchanged.
    public var url: String
    /// Upper bound for establishing a connection. libpq counts whole seconds, at least 2.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a silent peer may take before the connection is declared dead
    /// (`tcp_user_timeout` plus keepalives), so a vanished server surfaces as an error
    /// instead of a call that never returns.
    public var deadPeerTimeout: Duration = .seconds(20)
    /// Shown in `pg_stat_activity`.
    public var applicationName: String = "pumphouse"

    public init(url: String) {
        self.url = url
    }

    /// Why libpq cannot parse `url`, or nil. Parsing needs no server, so a pipeline
    /// file's typo can be refused before anything starts.
    ///
    /// libpq quotes the part it could not parse, and that part can be the password (a bad
    /// percent escape in it, say): a quoted part is kept only if the redacted URL shows
    /// it too, so the reason can name `sslmod` but never a secret.
    public var urlProblem: String? {
        if Self.hasSlashInCredentials(url) {
            return "the user or password before '@' holds a '/': percent-encode it (%2F)"
        }
        var options: UnsafeMutablePointer<PQconninfoOption>?
        var parseError: UnsafeMutablePointer<CChar>?
        if url.contains("://") || url.contains("=") {
            options = PQconninfoParse(url, &parseError)
        }
        guard options == nil else {
            PQconninfoFree(options)
            return nil
        }
        defer { parseError.map { PQfreemem($0) } }
        guard let reason = parseError.map({ String(cString: $0).trimmingWhitespace() }) else {
            return "not a postgresql:// URL or key=value connection string"
        }
        let shown = redactedURL
        return reason.replacing(/"[^"]*"/) { quoted in
            let part = quoted.output.dropFirst().dropLast()
            return !part.isEmpty && shown.contains(part) && !part.contains("***") ? String(quoted.output) : "\"***\""
        }
    }

    /// libpq ends a URL's credentials at the first '@' or '/', so `user:pa/ss@host/db`
    /// parses as host `user`, port `pa` and database `ss@host/db`, and the connect error
    /// then quotes the password's pieces. Told apart from a database name holding '@'
    /// (`host:5432/my@db`, valid): there, what precedes the first '/' is host[:port]
    /// and nothing after the '@' is a path.
    static func hasSlashInCredentials(_ url: String) -> Bool {
        guard let scheme = url.firstRange(of: "://") else { return false }
        // Up to the query, whose values may hold '@' of their own (user=name@host).
        let rest = url[scheme.upperBound...].prefix { $0 != "?" }
        guard let slash = rest.firstIndex(of: "/") else { return false }
        let head = rest[..<slash], tail = rest[rest.index(after: slash)...]
        guard !head.contains("@"), let at = tail.lastIndex(of: "@") else { return false }
        let pathAfter = tail[at...].contains("/")
        let port = head.last == "]" ? "" : head.split(separator: ",").last.flatMap { part in part.lastIndex(of: ":").map { part[part.index(after: $0)...] } } ?? ""
        return pathAfter || !port.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The URL with any password replaced by `***`, safe for logs and errors.
    public var redactedURL: String { PostgresURL.redacting(url) }

    /// Defaults first, the user's URL last: libpq lets later settings win, so anything
    /// the URL states overrides these.
    var connectionParameters: [(String, String)] {
        let deadPeer = max(1, deadPeerTimeout.components.seconds)
        return [
            ("connect_timeout", String(max(2, connectTimeout.components.seconds))),
            ("application_name", applicationName),
            ("keepalives", "1"),
            ("keepalives_idle", String(max(1, deadPeer / 4))),
            ("keepalives_interval", String(max(1, deadPeer / 8))),
            ("keepalives_count", "4"),
            ("tcp_user_timeout", String(deadPeer * 1000)),
            ("dbname", url),
        ]
    }
}

/// Password redaction for connection strings.
public enum PostgresURL {
    public static func redacting(_ url: String) -> String {
        var text = url
        // URL form: scheme://user:password@host/...; the password may itself hold '@',
        // '?' (libpq takes it, ending the credentials at the first '@') and '/' (which
        // libpq refuses), so the credentials run to the last '@' of all. A host,
        // database name or query holding '@' is then masked in part: too much is safe.
        if let scheme = text.firstRange(of: "://") {
            let rest = text[scheme.upperBound...]
            if let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                text = String(text[...colon]) + "***" + String(text[at...])
            }
        }
        // password=... (and sslpassword=...) as a query parameter or key=value pair, with
        // the spaces libpq allows around '='.
        var output = ""
        var remaining = Substring(text)
        while let found = remaining.firstMatch(of: /password\s*=\s*/) {
            output += remaining[..<found.range.upperBound] + "***"
            remaining = remaining[found.range.upperBound...]
            if remaining.first == "'" {
                // A quoted key=value: the value runs to the next unescaped quote.
                var index = remaining.index(after: remaining.startIndex)
                while index < remaining.endIndex && remaining[index] != "'" {
                    if remaining[index] == "\\" { index = remaining.index(after: index) }
                    if index < remaining.endIndex { index = remaining.index(after: index) }
                }
                remaining = index < remaining.endIndex ? remaining[remaining.index(after: index)...] : remaining[remaining.endIndex...]
            } else {
                remaining = remaining[(remaining.firstIndex { $0 == "&" || $0.isWhitespace } ?? remaining.endIndex)...]
            }
        }
        return output + remaining
    }
}
