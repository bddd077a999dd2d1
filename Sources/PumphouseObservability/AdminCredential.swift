import Foundation
import Logging
import Synchronization

/// The bearer tokens that open a service's non-public HTTP routes (dumps of cache state,
/// counters of undecided work): anything that shows entity data or acts outside the
/// public API.
///
/// Tokens come from a file, one per line (blank lines and `#` comments ignored), or from
/// one environment variable. The file is what makes rotation possible without downtime:
/// add the new token as a second line, move every client to it, then delete the old
/// line. The file is looked at again at most once a second (its size, modification time
/// and inode), so neither step needs a restart. A file that can no longer be read, or
/// that holds no usable token, opens nothing until it is mended: a half-written rotation
/// locks out, it never lets everyone in.
///
/// A presented token is compared with every configured one in time that depends only on
/// the configured tokens' lengths, so the time taken to refuse a guess tells nothing of
/// how much of it was right. Tokens never appear in errors or logs.
package final class AdminCredential: Sendable {
    /// Tokens shorter than this are refused when read: a guessable token is no credential.
    package static let minimumLength = 16
    /// How often the token file is looked at again.
    private let recheckInterval: Duration

    private enum Source {
        case file(path: String)
        case fixed
    }

    private struct Loaded {
        var tokens: [[UInt8]]
        /// What the file looked like when `tokens` were read from it.
        var identity: FileIdentity?
        var checkedAt: ContinuousClock.Instant
    }

    private let source: Source
    private let loaded: Mutex<Loaded>
    /// Hears, once per change of the file, that it can no longer be used.
    private let logger: Logger?

    /// Where the tokens come from, for messages: never the tokens themselves.
    package let origin: String

    /// The tokens of `path`; throws if it cannot be read or holds no usable token. The
    /// file is looked at again `recheckInterval` after the last look, at the first
    /// request after that.
    package init(tokenFile path: String, recheckInterval: Duration = .seconds(1), logger: Logger? = nil) throws(AdminCredentialError) {
        let identity = FileIdentity(path: path)
        let tokens = try Self.tokens(inFile: path)
        self.source = .file(path: path)
        self.logger = logger
        self.recheckInterval = recheckInterval
        self.origin = "the admin token file \(path)"
        self.loaded = Mutex(Loaded(tokens: tokens, identity: identity, checkedAt: .now))
    }

    /// One fixed token, as an environment variable gives it (named by `variable` in
    /// messages).
    package init(token: String, variable: String) throws(AdminCredentialError) {
        guard let checked = Self.token(Array(token.utf8)) else {
            throw AdminCredentialError(description: "\(variable) is not a usable admin token: \(Self.rule)")
        }
        self.source = .fixed
        self.logger = nil
        self.recheckInterval = .zero
        self.origin = variable
        self.loaded = Mutex(Loaded(tokens: [checked], identity: nil, checkedAt: .now))
    }

    /// The environment variable holding a single admin token, used when no token file is
    /// given.
    package static let environmentVariable = "PUMPHOUSE_ADMIN_TOKEN"

    /// The credential a service is started with: `tokenFile` if given, otherwise the
    /// token in `PUMPHOUSE_ADMIN_TOKEN`, otherwise none (every non-public route is then
    /// refused).
    package static func configured(tokenFile: String?, environment: [String: String], logger: Logger? = nil) throws(AdminCredentialError) -> AdminCredential? {
        if let tokenFile { return try AdminCredential(tokenFile: tokenFile, logger: logger) }
        if let token = environment[environmentVariable], !token.isEmpty {
            return try AdminCredential(token: token, variable: environmentVariable)
        }
        return nil
    }

    /// Whether `presented` is one of the tokens.
    package func accepts(_ presented: some Collection<UInt8>) -> Bool {
        let presented = Array(presented)
        let tokens = currentTokens()
        var accepted = false
        for token in tokens {
            // Every token is compared whole, and none ends the loop early.
            accepted = Self.constantTimeEqual(presented, token) || accepted
        }
        return accepted
    }

    /// The tokens now in force, looking at the file again if a second has passed.
    private func currentTokens() -> [[UInt8]] {
        guard case .file(let path) = source else { return loaded.withLock { $0.tokens } }
        let now = ContinuousClock.now
        let due: FileIdentity?? = loaded.withLock { loaded in
            guard now - loaded.checkedAt >= recheckInterval else { return .none }
            loaded.checkedAt = now
            return .some(loaded.identity)
        }
        guard case .some(let previous) = due else { return loaded.withLock { $0.tokens } }
        // Outside the lock: a stat and, when the file changed, a read.
        let identity = FileIdentity(path: path)
        // A file gone stays gone without a read (and a log line) every second.
        guard identity != previous else { return loaded.withLock { $0.tokens } }
        let tokens: [[UInt8]]
        do {
            tokens = try Self.tokens(inFile: path)
        } catch {
            // Once per change of the file: the error names the file and the line, never
            // a token.
            logger?.error("\(error); every non-public route refuses until it is mended")
            tokens = []
        }
        return loaded.withLock { loaded in
            loaded.tokens = tokens
            loaded.identity = identity
            return tokens
        }
    }

    /// Equal bytes, in time that depends on `expected`'s length only.
    static func constantTimeEqual(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: presented.count ^ expected.count)
        presented.withUnsafeBufferPointer { presented in
            for index in expected.indices {
                let byte = index < presented.count ? presented[index] : 0
                difference |= UInt(byte ^ expected[index])
            }
        }
        return difference == 0
    }

    private static let rule = "a token is at least \(minimumLength) visible ASCII characters (no spaces); make one with `openssl rand -hex 32`"

    /// Space, tab, or the carriage return of a file written with CRLF line ends.
    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    /// The token spelled by `bytes` (surrounding blanks trimmed), if usable.
    private static func token(_ bytes: [UInt8]) -> [UInt8]? {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else { return nil }
        let token = Array(bytes[first...last])
        guard token.count >= minimumLength, token.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return token
    }

    /// Every token in the file; throws naming the file and the line of the first bad one,
    /// or if there is none.
    static func tokens(inFile path: String) throws(AdminCredentialError) -> [[UInt8]] {
        let contents: Data
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AdminCredentialError(description: "cannot read the admin token file \(path): \((error as NSError).localizedDescription); point --admin-token-file at a readable file holding one token per line")
        }
        var tokens: [[UInt8]] = []
        for (index, line) in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let bytes = Array(line)
            let content = bytes.drop(while: isBlank)
            if content.isEmpty || content.first == UInt8(ascii: "#") { continue }
            guard let token = token(bytes) else {
                throw AdminCredentialError(description: "line \(index + 1) of the admin token file \(path) is not a usable token: \(rule)")
            }
            tokens.append(token)
        }
        guard !tokens.isEmpty else {
            throw AdminCredentialError(description: "the admin token file \(path) holds no token; put one per line (\(rule))")
        }
        return tokens
    }
}

/// Why an admin credential cannot be used; names the file or variable and the fix, never
/// a token.
package struct AdminCredentialError: Error, CustomStringConvertible, Sendable {
    package let description: String
}

/// Enough of a file's identity to notice it was replaced or rewritten.
private struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
    var modifiedNanoseconds: Int64

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = Int64(status.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(status.st_mtim.tv_nsec)
    }
}
