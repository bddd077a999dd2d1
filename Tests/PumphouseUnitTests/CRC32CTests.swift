import PumphouseTestSupport
import Testing
@testable import PumphouseUnit

@Suite("CRC-32C of spooled records")
struct CRC32CTests {
    @Test("published check values: the catalogue's \"123456789\" and the iSCSI vectors of RFC 3720 (B.4)", arguments: [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        (Array(0...31), 0x46DD_794E),
        (Array((0...31).reversed()), 0x113F_DB5C),
        ([], 0),
    ] as [([UInt8], UInt32)])
    func checkValues(bytes: [UInt8], expected: UInt32) {
        let checksum = bytes.withUnsafeBytes(CRC32C.checksum)
        #expect(checksum == expected, "\(bytes.count) bytes: 0x\(String(checksum, radix: 16)), expected 0x\(String(expected, radix: 16))")
    }

    @Test("equals the bit-at-a-time definition for every length up to 300 and at every offset from an aligned start")
    func matchesBytewise() {
        var random = SplitMix(state: 0xC3C3_2C32)
        let buffer = (0..<(300 + 8)).map { _ in UInt8.random(in: 0...255, using: &random) }
        buffer.withUnsafeBytes { all in
            for length in 0...300 {
                for offset in 0..<8 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<offset + length])
                    let expected = Self.bitwise(slice)
                    let checksum = CRC32C.checksum(slice)
                    guard checksum == expected else {
                        Issue.record("length \(length) at offset \(offset): 0x\(String(checksum, radix: 16)), the definition gives 0x\(String(expected, radix: 16))")
                        return
                    }
                }
            }
        }
    }

    @Test("equals the bit-at-a-time definition on random records of up to 64 KiB")
    func matchesBytewiseOnLargeRecords() {
        var random = SplitMix(state: 0x5EED_C3C)
        for round in 0..<16 {
            let length = Int.random(in: 0...65_536, using: &random)
            let offset = Int.random(in: 0..<8, using: &random)
            let buffer = (0..<(length + offset)).map { _ in UInt8.random(in: 0...255, using: &random) }
            buffer.withUnsafeBytes { all in
                let slice = UnsafeRawBufferPointer(rebasing: all[offset...])
                #expect(CRC32C.checksum(slice) == Self.bitwise(slice), "round \(round): \(length) bytes at offset \(offset)")
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
