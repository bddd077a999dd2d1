/// Strings of up to 15 ASCII bytes, which 64-bit Swift stores inside the String value
/// itself: 16 bytes, the text's bytes in order, zeros after them, and 0xE0 + count in
/// the last. A contract is mostly such strings (names, keys, short values), and making
/// one through `String(decoding:)` costs about 200 instructions of checks and copies,
/// more than parsing it; put together from its bytes it costs a few.
///
/// That layout is the standard library's, not a promise of the language, so it is not
/// assumed: `layoutHolds` compares strings the standard library made, of every length,
/// with it, once per process. Only if they all match are strings made or read this
/// way, and then a string made here has exactly the bits of one the standard library
/// would make, which is what makes it a valid String. Otherwise, or for anything
/// longer or beyond ASCII, strings are made and read the ordinary way.
enum SmallASCII {
    static let capacity = 15

    static let layoutHolds: Bool = {
        #if _endian(little) && _pointerBitWidth(_64)
        guard MemoryLayout<String>.size == 16 else { return false }
        let probe = Array("abcdefghijklmno".utf8)
        for count in 0...capacity {
            let made = probe.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[0..<count]), as: UTF8.self) }
            var expected = [UInt8](repeating: 0, count: 16)
            expected.replaceSubrange(0..<count, with: probe[0..<count])
            expected[15] = 0xE0 | UInt8(count)
            guard withUnsafeBytes(of: made, { $0.elementsEqual(expected) }) else { return false }
        }
        // And no other kind of string is taken for one of these.
        let others = [String(repeating: "x", count: 40), "a literal longer than fifteen bytes", "\u{E9}", String(decoding: [0xC3, 0xA9], as: UTF8.self)]
        return others.allSatisfy { words(of: $0) == nil }
        #else
        return false
        #endif
    }()

    /// The string of `count` ASCII bytes held in `low` (the first eight, first in the
    /// lowest byte) and `high` (the rest), zero beyond `count`. Only where
    /// `layoutHolds`.
    @inline(__always)
    static func string(low: UInt64, high: UInt64, count: Int) -> String {
        // Moved out of memory holding its bits, the string is ours at once; a bit cast
        // would hand out a borrowed one that costs a retain to keep.
        var bits = (low, high | (0xE0 | UInt64(truncatingIfNeeded: count)) << 56)
        return withUnsafeMutablePointer(to: &bits) { $0.withMemoryRebound(to: String.self, capacity: 1) { $0.move() } }
    }

    /// The bytes of a string of up to 15 ASCII bytes as `string(low:high:count:)`
    /// takes them; nil for any other string. Only where `layoutHolds`.
    @inline(__always)
    static func words(of string: String) -> (low: UInt64, high: UInt64, count: Int)? {
        words(unsafeBitCast(string, to: (UInt64, UInt64).self))
    }

    /// As `words(of:)`, for the String stored at `pointer`, read without copying it.
    @inline(__always)
    static func words(at pointer: UnsafeRawPointer) -> (low: UInt64, high: UInt64, count: Int)? {
        words((pointer.load(as: UInt64.self), pointer.load(fromByteOffset: 8, as: UInt64.self)))
    }

    @inline(__always)
    private static func words(_ bits: (UInt64, UInt64)) -> (low: UInt64, high: UInt64, count: Int)? {
        let (low, high) = bits
        let discriminator = high >> 56
        guard discriminator & 0xF0 == 0xE0 else { return nil }
        return (low, high & 0x00FF_FFFF_FFFF_FFFF, Int(discriminator & 0x0F))
    }

    /// Whether a string held as `string(low:high:count:)` takes it has a byte JSON
    /// must escape. For ASCII bytes each test below is exact, with no carry between
    /// bytes: adding 0x60 sets bit 7 from 0x20 up, and adding 0x7F sets it for any
    /// byte but zero, so bytes equal to a quote or a backslash are zeros after an XOR.
    @inline(__always)
    static func needsEscape(low: UInt64, high: UInt64, count: Int) -> Bool {
        func flagged(_ word: UInt64) -> UInt64 {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let printable = word &+ ones &* 0x60
            let notQuote = (word ^ ones &* 0x22) &+ ones &* 0x7F
            let notBackslash = (word ^ ones &* 0x5C) &+ ones &* 0x7F
            return ~(printable & notQuote & notBackslash) & (ones &* 0x80)
        }
        return flagged(low) & mask(bytes: count) | flagged(high) & mask(bytes: count &- 8) != 0
    }

    /// The first `count` bytes of a word (none for a count below one, all from eight).
    @inline(__always)
    static func mask(bytes count: Int) -> UInt64 {
        count >= 8 ? ~0 : count <= 0 ? 0 : (1 &<< UInt64(count &* 8)) &- 1
    }

    /// The decimal digits of a number of up to 15 characters, as a string; others
    /// the ordinary way.
    static func decimal(_ value: Int64, layoutHolds: Bool) -> String {
        guard layoutHolds, value > -100_000_000_000_000 && value < 1_000_000_000_000_000 else { return String(value) }
        var magnitude = value.magnitude
        var digits = 0
        var low: UInt64 = 0, high: UInt64 = 0
        // Digits come last first: each shifts the ones before it one byte up.
        repeat {
            high = high << 8 | low >> 56
            low = low << 8 | (UInt64(ascii: "0") + magnitude % 10)
            magnitude /= 10
            digits += 1
        } while magnitude > 0
        if value < 0 {
            high = high << 8 | low >> 56
            low = low << 8 | UInt64(ascii: "-")
            digits += 1
        }
        return string(low: low, high: high, count: digits)
    }
}

private extension UInt64 {
    init(ascii: Unicode.Scalar) {
        self = UInt64(ascii.value)
    }
}
