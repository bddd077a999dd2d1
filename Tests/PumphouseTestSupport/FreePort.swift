#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Ports for servers a test starts and announces before they listen.
public enum FreePort {
    /// A port in 20000–32000 (below the ephemeral range) that nothing listens on.
    public static func find() throws -> Int {
        guard let port = (0..<100).lazy.map({ _ in Int.random(in: 20_000...32_000) }).first(where: isFree) else {
            throw Unavailable()
        }
        return port
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "no free port in 20000-32000 after 100 tries" }
    }

    /// Whether a listener could bind `port` on the loopback address now.
    static func isFree(_ port: Int) -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A loopback port held by a socket that is bound but never listens: every connection
/// to it is refused at once, and no other test can take the port while this is open
/// (a port merely found free may be taken, and answered, by a server started meanwhile).
public final class RefusingPort: @unchecked Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw SocketFailed(errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else {
            let failure = errno
            close(descriptor)
            throw SocketFailed(errno: failure)
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    struct SocketFailed: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { "could not bind a loopback socket (errno \(errno))" }
    }
}
