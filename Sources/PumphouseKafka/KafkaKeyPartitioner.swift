/// The partition a key goes to, computed the way librdkafka's default partitioner
/// (`consistent_random`) computes it for a non-empty key: the CRC-32 (IEEE) of the key's
/// bytes modulo the partition count.
///
/// A processing unit numbers its changes per partition and keeps each partition's sends
/// in order, so it must know a change's partition before librdkafka does; computing it
/// exactly as librdkafka would keeps every key where the reverse pump and any other
/// librdkafka producer with the default settings put it. (Java clients default to
/// murmur2 instead: a foreign producer must be configured to match.)
public struct KafkaKeyPartitioner: Sendable, Hashable {
    public let partitionCount: Int32

    public init(partitionCount: Int32) {
        precondition(partitionCount > 0, "a topic has at least one partition")
        self.partitionCount = partitionCount
    }

    /// The partition of a non-empty key. (librdkafka spreads empty and null keys at
    /// random; Pumphouse never sends one.) Concrete, not generic: it runs on every read
    /// and change of a unit, from another module, where a generic call would not be
    /// specialised.
    public func partition(ofKey key: UnsafeRawBufferPointer) -> Int32 {
        guard partitionCount > 1 else { return 0 }
        return Int32(truncatingIfNeeded: Self.crc32(key) % UInt32(partitionCount))
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
}
