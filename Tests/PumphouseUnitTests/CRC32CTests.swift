import PumphouseTestSupport
import Testing
@testable import PumphouseUnit

@Suite("CRC-32C of spooled records")
struct CRC32CTests {
    /// Each way of computing it this machine has: the portable one always, the CPU's
    /// instruction where it has one (x86-64 with SSE 4.2, as every machine this project
    /// tests on).
    static let forms: [(name: String, checksum: @Sendable (UnsafeRawBufferPointer) -> UInt32)] =
        [("portable", CRC32C.portable)] + (CRC32C.inHardware ? [("hardware", CRC32C.hardware)] : [])

    @Test("x86-64 computes it with SSE 4.2's instruction, and checksum takes that way", .enabled(if: Self.isX86))
    func hardwareOnX86() {
        #expect(CRC32C.inHardware, "every x86-64 CPU since 2008 has SSE 4.2")
        #expect(Self.forms.count == 2)
    }

    #if arch(x86_64)
    static let isX86 = true
    #else
    static let isX86 = false
    #endif

    @Test("published check values, in both forms: the catalogue's \"123456789\" and the iSCSI vectors of RFC 3720 (B.4)", arguments: [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        (Array(0...31), 0x46DD_794E),
        (Array((0...31).reversed()), 0x113F_DB5C),
        ([], 0),
    ] as [([UInt8], UInt32)])
    func checkValues(bytes: [UInt8], expected: UInt32) {
        for form in Self.forms + [("checksum", CRC32C.checksum)] {
            let checksum = bytes.withUnsafeBytes(form.checksum)
            #expect(checksum == expected, "\(form.name), \(bytes.count) bytes: 0x\(String(checksum, radix: 16)), expected 0x\(String(expected, radix: 16))")
        }
    }

    @Test("both forms equal the bit-at-a-time definition for every length up to 300 and at every offset from an aligned start")
    func matchesBytewise() {
        var random = SplitMix(state: 0xC3C3_2C32)
        let buffer = (0..<(300 + 8)).map { _ in UInt8.random(in: 0...255, using: &random) }
        buffer.withUnsafeBytes { all in
            for length in 0...300 {
                for offset in 0..<8 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<offset + length])
                    let expected = Self.bitwise(slice)
                    for form in Self.forms {
                        let checksum = form.checksum(slice)
                        guard checksum == expected else {
                            Issue.record("\(form.name), length \(length) at offset \(offset): 0x\(String(checksum, radix: 16)), the definition gives 0x\(String(expected, radix: 16))")
                            return
                        }
                    }
                }
            }
        }
    }

    @Test("both forms equal the bit-at-a-time definition on random records of up to 64 KiB")
    func matchesBytewiseOnLargeRecords() {
        var random = SplitMix(state: 0x5EED_C3C)
        for round in 0..<16 {
            let length = Int.random(in: 0...65_536, using: &random)
            let offset = Int.random(in: 0..<8, using: &random)
            let buffer = (0..<(length + offset)).map { _ in UInt8.random(in: 0...255, using: &random) }
            buffer.withUnsafeBytes { all in
                let slice = UnsafeRawBufferPointer(rebasing: all[offset...])
                let expected = Self.bitwise(slice)
                for form in Self.forms {
                    #expect(form.checksum(slice) == expected, "\(form.name), round \(round): \(length) bytes at offset \(offset)")
                }
            }
        }
    }

    /// The definition, one bit at a time: reflected polynomial 0x82F63B78, initial value
    /// and final XOR all ones. The oracle, deliberately free of any table.
    static func bitwise(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
