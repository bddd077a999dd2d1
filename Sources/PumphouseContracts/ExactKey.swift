#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Text whose identity is its UTF-8 bytes: an entity key, an origin (a unit's id), a
/// field name.
///
/// Kafka partitions by the key's bytes and PostgreSQL compares text by bytes, but Swift's
/// `String` equality, hashing and ordering follow Unicode canonical equivalence: "é" as
/// one scalar and "e" followed by a combining accent are equal Strings, and a
/// `[String: …]` dictionary keeps one entry for both. Used as a dictionary key (or
/// compared with `==`), a plain String would merge two entities the log and the database
/// keep apart. Every map Pumphouse keeps by key, origin or field name is keyed by this
/// type instead; ordering is by bytes too, as PostgreSQL's "C" collation orders.
public struct ExactKey: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String

    @inlinable
    public init(_ text: String) {
        self.text = text
    }

    public init(stringLiteral value: String) {
        self.text = value
    }

    public var description: String { text }

    @inlinable
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.text.isSameBytes(as: rhs.text)
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
        if hashed == nil {
            for byte in text.utf8 { hasher.combine(byte) }
        }
        hasher.combine(text.utf8.count)
    }

    @inlinable
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8)
    }
}

extension String {
    /// Whether both strings have the same UTF-8 bytes: the identity Kafka and PostgreSQL
    /// use. `==` would also equate canonically equivalent spellings.
    @inlinable
    public func isSameBytes(as other: String) -> Bool {
        let count = utf8.count
        guard count == other.utf8.count else { return false }
        let compared: Bool?? = utf8.withContiguousStorageIfAvailable { lhs in
            other.utf8.withContiguousStorageIfAvailable { rhs in
                count == 0 || memcmp(lhs.baseAddress!, rhs.baseAddress!, count) == 0
            }
        }
        if let compared = compared ?? nil { return compared }
        return utf8.elementsEqual(other.utf8)
    }
}
