import CCRC32C

/// CRC-32C (Castagnoli), the checksum guarding each spooled record.
///
/// Castagnoli rather than the zip CRC-32 because it detects more of the error patterns
/// storage produces at these record lengths, and it is the checksum Kafka's own record
/// batches use. Every record is checksummed once as it is spooled, on the change path,
/// and once more as it is read back.
///
/// With the CPU's own instruction where it has one (SSE 4.2's crc32 on x86-64: eight
/// bytes an instruction, `CCRC32C`), and otherwise in plain Swift, slicing-by-8: a table
/// per byte position folds eight bytes per step instead of one, with table lookups that
/// do not wait on each other. In a `perf` of the pump benchmark the Swift form took 5%
/// of a put.
enum CRC32C {
    /// The reflected Castagnoli polynomial.
    private static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight tables of 256 entries, one after the other. Table 0 is the classic bytewise
    /// table; table k gives the effect of a byte followed by k zero bytes, so the eight
    /// bytes of a word can be looked up independently and combined.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[byte] = crc
        }
        for table in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(table - 1) * 256 + byte]
                tables[table * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Whether this CPU computes it with its own instruction; asked once.
    static let inHardware = pumphouse_crc32c_hardware() != 0

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        inHardware ? hardware(bytes) : portable(bytes)
    }

    /// With the CPU's instruction: only where `inHardware`.
    static func hardware(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~pumphouse_crc32c_update(~0, bytes.baseAddress, bytes.count)
    }

    /// Slicing-by-8, on any CPU.
    static func portable(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        tables.withUnsafeBufferPointer { t in
            var crc: UInt32 = 0xFFFF_FFFF
            var offset = 0
            // Loads are unaligned: a record starts wherever the previous one ended.
            while bytes.count - offset >= 8 {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                let first = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int(low >> 8 & 0xFF)]
                    ^ t[5 * 256 + Int(low >> 16 & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                let second = t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int(high >> 8 & 0xFF)]
                    ^ t[256 + Int(high >> 16 & 0xFF)] ^ t[Int(high >> 24)]
                crc = first ^ second
                offset += 8
            }
            while offset < bytes.count {
                crc = t[Int((crc ^ UInt32(bytes[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
