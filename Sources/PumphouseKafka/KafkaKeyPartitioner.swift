/// The partition a key goes to, computed exactly as the producers that share the topic
/// compute it.
///
/// A processing unit numbers its changes per partition and keeps each partition's sends
/// in order, so it must know a change's partition before librdkafka does; and a
/// partitioned cache routes a request to the unit owning the key's partition, so the
/// unit, a smart client and any foreign producer must all agree on it. Two schemes:
///
/// - `consistentRandom`, librdkafka's default (`consistent_random`): the CRC-32 (IEEE)
///   of the key's bytes modulo the partition count. Replicated caches keep it, since
///   their topics were written with it.
/// - `murmur2`, the Java client's default and librdkafka's `murmur2_random`: Kafka's
///   32-bit MurmurHash2 of the key's bytes (seed 0x9747b28c), its sign bit cleared,
///   modulo the partition count. Partitioned caches use it, so a key routes to the same
///   partition from Java, Go, Python or librdkafka producers configured as their
///   ecosystems default.
///
/// Empty keys are spread at random by both librdkafka schemes; Pumphouse never sends one,
/// and places it in partition 0 if asked.
///
/// A partition key (`partitionKeyAfter`, a partitioned cache's `partition_key_after`)
/// hashes only the part of the key after the last occurrence of one byte, as Hazelcast
/// places a `key@partitionKey` string: `bid-17@auction-42` goes where `auction-42` goes,
/// so one auction's bids are entities of their own, decided by the auction's owner. A key
/// without that byte, or ending in it, hashes whole. Foreign producers must hash the
/// same part (a custom partitioner in the Java client, say), or produce through a unit.
public struct KafkaKeyPartitioner: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable, CaseIterable {
        case consistentRandom = "consistent_random"
        case murmur2
    }

    public let partitionCount: Int32
    public let scheme: Scheme
    /// The byte after whose last occurrence the key's partition key starts; nil: the
    /// whole key places it.
    public let partitionKeyAfter: UInt8?

    public init(partitionCount: Int32, scheme: Scheme = .consistentRandom, partitionKeyAfter: UInt8? = nil) {
        precondition(partitionCount > 0, "a topic has at least one partition")
        self.partitionCount = partitionCount
        self.scheme = scheme
        self.partitionKeyAfter = partitionKeyAfter
    }

    /// The scheme, and the partition key if there is one: what a topic's layout depends on.
    public var description: String {
        guard let partitionKeyAfter else { return scheme.rawValue }
        return "\(scheme.rawValue) over the key after its last \"\(Character(Unicode.Scalar(partitionKeyAfter)))\""
    }

    /// The partition of a key. Concrete, not generic: it runs on every read and change of
    /// a unit, from another module, where a generic call would not be specialised.
    public func partition(ofKey key: UnsafeRawBufferPointer) -> Int32 {
        guard partitionCount > 1, !key.isEmpty else { return 0 }
        let key = partitionKey(of: key)
        switch scheme {
        case .consistentRandom:
            return Int32(truncatingIfNeeded: Self.crc32(key) % UInt32(partitionCount))
        case .murmur2:
            return Int32(truncatingIfNeeded: (Self.murmur2(key) & 0x7FFF_FFFF) % UInt32(partitionCount))
        }
    }

    /// The bytes that place `key`: after the last `partitionKeyAfter`, if the key has one
    /// with something after it; the whole key otherwise.
    public func partitionKey(of key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let partitionKeyAfter, let last = key.lastIndex(of: partitionKeyAfter), last + 1 < key.count else { return key }
        return UnsafeRawBufferPointer(rebasing: key[(last + 1)...])
    }

    public func partition(ofKey key: [UInt8]) -> Int32 {
        key.withUnsafeBytes { partition(ofKey: $0) }
    }

    public func partition(ofKey key: String) -> Int32 {
        var key = key
        return key.withUTF8 { partition(ofKey: UnsafeRawBufferPointer($0)) }
    }

    /// Keys are a few dozen bytes: a byte-at-a-time table is as fast as wider schemes here.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc = table[Int(truncatingIfNeeded: (crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
            return crc ^ 0xFFFF_FFFF
        }
    }

    /// The reflected IEEE polynomial's table, as zlib and librdkafka build it.
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    /// Kafka's MurmurHash2: four bytes at a time, little-endian, then the one to three
    /// left over, then the final mix. Java computes it in signed 32-bit arithmetic with
    /// unsigned shifts, which wrapping unsigned arithmetic reproduces bit for bit.
    static func murmur2(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let multiplier: UInt32 = 0x5BD1_E995
        var hash: UInt32 = 0x9747_B28C ^ UInt32(truncatingIfNeeded: bytes.count)
        let whole = bytes.count & ~3
        var index = 0
        while index < whole {
            var word = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
            word &*= multiplier
            word ^= word >> 24
            word &*= multiplier
            hash &*= multiplier
            hash ^= word
            index += 4
        }
        let left = bytes.count - whole
        if left > 0 {
            if left == 3 { hash ^= UInt32(bytes[whole + 2]) << 16 }
            if left >= 2 { hash ^= UInt32(bytes[whole + 1]) << 8 }
            hash ^= UInt32(bytes[whole])
            hash &*= multiplier
        }
        hash ^= hash >> 13
        hash &*= multiplier
        hash ^= hash >> 15
        return hash
    }
}
