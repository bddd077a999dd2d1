/// Writes JSON compactly into a byte buffer. Output is always valid UTF-8 JSON; numbers
/// JSON cannot carry (NaN, infinities) are refused rather than written as garbage.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: JSONValue) throws(JSONError) {
        try emit(value)
    }

    public mutating func write(_ object: JSONObject) throws(JSONError) {
        try emit(object)
    }

    public mutating func write(_ string: String) {
        emit(string)
    }

    public mutating func write(_ value: Int64) {
        emit(value)
    }

    public mutating func write(_ value: Double) throws(JSONError) {
        try emit(value)
    }

    package mutating func writeRaw(_ text: StaticString) {
        emit(raw: text)
    }

    /// The encoding of one value.
    public static func encode(_ value: JSONValue) throws(JSONError) -> [UInt8] {
        var writer = JSONWriter()
        try writer.write(value)
        return writer.bytes
    }
}

extension JSONWriter: JSONOutput {
    var count: Int { bytes.count }

    mutating func append(count: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            write(buffer.baseAddress!)
            bytes.append(contentsOf: buffer)
        }
    }

    mutating func append(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: run)
    }
}

/// Where JSON is written: `JSONWriter`'s array, or raw memory for the contract codec.
/// One formatter serves both, so they cannot disagree on a byte.
protocol JSONOutput {
    /// Bytes written so far.
    var count: Int { get }
    mutating func append(_ byte: UInt8)
    mutating func append(_ run: UnsafeBufferPointer<UInt8>)
    /// The string's UTF-8 as it is.
    mutating func append(utf8 text: String)
    /// `count` bytes that `write` puts where they go.
    mutating func append(count: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Void)
    /// The string as a JSON string.
    mutating func emit(_ string: String)
    /// The string held there, as a JSON string.
    mutating func emit(stringAt pointer: UnsafePointer<String>)
}

extension JSONOutput {
    mutating func append(utf8 text: String) {
        var text = text
        text.withUTF8 { append($0) }
    }

    mutating func emit(_ string: String) {
        emitString(of: string)
    }

    mutating func emit(stringAt pointer: UnsafePointer<String>) {
        emit(pointer.pointee)
    }

    mutating func emitString(of string: String) {
        var string = string
        string.withUTF8 { emitString(utf8: $0) }
    }

    mutating func emit(_ value: JSONValue) throws(JSONError) {
        switch value {
        case .null: emit(raw: "null")
        case .bool(let b): emit(raw: b ? "true" : "false")
        case .int(let i): emit(i)
        case .double(let d): try emit(d)
        case .string(let s): emit(s)
        case .array(let items):
            append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { append(UInt8(ascii: ",")) }
                try emit(item)
            }
            append(UInt8(ascii: "]"))
        case .object(let object):
            try emit(object)
        }
    }

    mutating func emit(_ object: JSONObject) throws(JSONError) {
        append(UInt8(ascii: "{"))
        // Members borrowed where they lie rather than copied out one by one.
        let result = object.members.withUnsafeBufferPointer { members in
            Result { () throws(JSONError) in
                guard let first = members.baseAddress else { return }
                for index in members.indices {
                    if index > 0 { append(UInt8(ascii: ",")) }
                    emit(stringAt: (first + index).pointer(to: \.name)!)
                    append(UInt8(ascii: ":"))
                    try emit(members[index].value)
                }
            }
        }
        try result.get()
        append(UInt8(ascii: "}"))
    }

    /// Copies runs that need no escape whole, found eight bytes at a time.
    mutating func emitString(utf8: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        let count = utf8.count
        var runStart = 0
        var index = 0
        while true {
            if let base = utf8.baseAddress {
                while index &+ 8 <= count {
                    let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                    let special = JSONCursor.specialBytes(word)
                    if special != 0 {
                        index &+= special.trailingZeroBitCount >> 3
                        break
                    }
                    index &+= 8
                }
            }
            while index < count, !Self.needsEscape(utf8[index]) { index += 1 }
            guard index < count else { break }
            append(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            emitEscape(utf8[index])
            index += 1
            runStart = index
        }
        append(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        append(UInt8(ascii: "\""))
    }

    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x22 || byte == 0x5C
    }

    mutating func emitEscape(_ byte: UInt8) {
        append(0x5C)
        switch byte {
        case 0x22: append(0x22)
        case 0x5C: append(0x5C)
        case 0x0A: append(UInt8(ascii: "n"))
        case 0x0D: append(UInt8(ascii: "r"))
        case 0x09: append(UInt8(ascii: "t"))
        default:
            emit(raw: "u00")
            let hex: StaticString = "0123456789abcdef"
            append(hex.utf8Start[Int(byte >> 4)])
            append(hex.utf8Start[Int(byte & 0xF)])
        }
    }

    mutating func emit(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        emitDigits(value.magnitude)
    }

    /// The number's decimal digits, left-padded with zeros to `minimum` of them.
    mutating func emitDigits(_ value: UInt64, minimum: Int = 0) {
        let length = max(Self.decimalLength(value), minimum)
        append(count: length) { digits in
            // From the last digit, two at a time.
            var rest = value
            var end = length
            while end >= 2 {
                let (quotient, pair) = rest.quotientAndRemainder(dividingBy: 100)
                digits[end - 2] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair / 10)
                digits[end - 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: pair % 10)
                rest = quotient
                end -= 2
            }
            if end == 1 { digits[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest) }
        }
    }

    /// How many decimal digits the number has, found by comparisons alone.
    static func decimalLength(_ value: UInt64) -> Int {
        if value < 100_000_000 {
            if value < 10_000 { return value < 100 ? (value < 10 ? 1 : 2) : (value < 1_000 ? 3 : 4) }
            return value < 1_000_000 ? (value < 100_000 ? 5 : 6) : (value < 10_000_000 ? 7 : 8)
        }
        if value < 10_000_000_000_000_000 {
            if value < 1_000_000_000_000 {
                return value < 10_000_000_000 ? (value < 1_000_000_000 ? 9 : 10) : (value < 100_000_000_000 ? 11 : 12)
            }
            return value < 100_000_000_000_000 ? (value < 10_000_000_000_000 ? 13 : 14) : (value < 1_000_000_000_000_000 ? 15 : 16)
        }
        return value < 1_000_000_000_000_000_000 ? (value < 100_000_000_000_000_000 ? 17 : 18) : (value < 10_000_000_000_000_000_000 ? 19 : 20)
    }

    mutating func emit(_ value: Double) throws(JSONError) {
        guard value.isFinite else { throw JSONError(reason: .notRepresentable("\(value)"), offset: count) }
        if value.rounded(.towardZero) == value, abs(value) < 9.007_199_254_740_992e15 {
            emit(Int64(value))
            emit(raw: ".0")
        } else if let (digits, scale) = Self.shortDecimal(value) {
            if value < 0 { append(UInt8(ascii: "-")) }
            var power: UInt64 = 1
            for _ in 0..<scale { power &*= 10 }
            let (whole, fraction) = digits.quotientAndRemainder(dividingBy: power)
            emitDigits(whole)
            append(UInt8(ascii: "."))
            emitDigits(fraction, minimum: scale)
        } else {
            append(utf8: value.description)
        }
    }

    /// The value's magnitude as `digits` ÷ 10^`scale`, spelled as `description` spells
    /// it, for values that take it few digits and no exponent: formatting a double costs
    /// more than writing the rest of a contract. `description` gives the shortest
    /// decimal that reads back as the value. No shorter one exists if no smaller scale
    /// read back; and with under 10^15 as digits, decimals of that scale lie further
    /// apart than the doubles that read as the value, so at most one reads back. The
    /// rounded product can be off that one by less than a half (the value is within
    /// half a unit in the last place of it, and the multiplication rounds once), so it
    /// is found. Reading back is exact arithmetic: both `digits` and 10^`scale` are
    /// doubles exactly, and one division rounds correctly, as parsing does.
    static func shortDecimal(_ value: Double) -> (digits: UInt64, scale: Int)? {
        let magnitude = abs(value)
        // Within this range `description` writes no exponent.
        guard magnitude >= 0.001 && magnitude < 1e15 else { return nil }
        var power = 1.0
        for scale in 1...15 {
            power *= 10
            let scaled = (magnitude * power).rounded()
            guard scaled < 1e15 else { return nil }
            if scaled / power == magnitude { return (UInt64(scaled), scale) }
        }
        return nil
    }

    @inline(__always)
    mutating func emit(raw text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// JSON written to memory the caller owns, which grows onto the heap if the JSON
/// outgrows it: the contract codec writes a body on the stack, then copies it once into
/// an array of exactly its size, instead of growing an array byte by byte.
struct RawJSONOutput: JSONOutput {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int
    /// Whether `base` is heap memory of ours, to free on growth and at the end.
    private var owned = false
    /// `SmallASCII.layoutHolds`, looked up once per document rather than per string.
    let smallStrings = SmallASCII.layoutHolds

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    /// Frees heap memory taken on growth; the written bytes are gone after.
    mutating func release() {
        if owned { base.deallocate() }
        owned = false
        count = 0
        capacity = 0
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        guard let source = run.baseAddress else { return }
        let length = run.count
        reserve(length)
        let target = UnsafeMutableRawPointer(base + count)
        // Short runs (digits, punctuation, names) as two overlapping word copies rather
        // than a call to memcpy.
        if length >= 8 && length <= 16 {
            let from = UnsafeRawPointer(source)
            target.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            target.storeBytes(of: from.loadUnaligned(fromByteOffset: length &- 8, as: UInt64.self), toByteOffset: length &- 8, as: UInt64.self)
        } else if length >= 4 && length < 8 {
            let from = UnsafeRawPointer(source)
            target.storeBytes(of: from.loadUnaligned(as: UInt32.self), as: UInt32.self)
            target.storeBytes(of: from.loadUnaligned(fromByteOffset: length &- 4, as: UInt32.self), toByteOffset: length &- 4, as: UInt32.self)
        } else {
            (base + count).initialize(from: source, count: length)
        }
        count &+= length
    }

    @inline(__always)
    mutating func append(count length: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Void) {
        reserve(length)
        write(base + count)
        count &+= length
    }

    mutating func append(utf8 text: String) {
        guard smallStrings, let (low, high, length) = SmallASCII.words(of: text) else {
            var text = text
            return text.withUTF8 { append($0) }
        }
        reserve(16)
        store(low, high)
        count &+= length
    }

    /// A string of up to 15 ASCII bytes that needs no escape goes in as two words.
    mutating func emit(_ string: String) {
        guard smallStrings, let words = SmallASCII.words(of: string), emitSmall(words) else { return emitString(of: string) }
    }

    /// As `emit(_:)`, reading a short string's bits where it lies: a String copied out
    /// to be passed costs a retain and a release.
    mutating func emit(stringAt pointer: UnsafePointer<String>) {
        guard smallStrings, let words = SmallASCII.words(at: UnsafeRawPointer(pointer)), emitSmall(words) else {
            return emitString(of: pointer.pointee)
        }
    }

    /// Writes a short string held as `SmallASCII` holds it, unless it needs escapes.
    @inline(__always)
    private mutating func emitSmall(_ words: (low: UInt64, high: UInt64, count: Int)) -> Bool {
        let (low, high, length) = words
        guard !SmallASCII.needsEscape(low: low, high: high, count: length) else { return false }
        reserve(18)
        base[count] = UInt8(ascii: "\"")
        count &+= 1
        store(low, high)
        base[count &+ length] = UInt8(ascii: "\"")
        count &+= length &+ 1
        return true
    }

    /// Sixteen bytes at `count`, which stays where it is; room must be reserved.
    @inline(__always)
    private func store(_ low: UInt64, _ high: UInt64) {
        let at = UnsafeMutableRawPointer(base + count)
        at.storeBytes(of: low.littleEndian, as: UInt64.self)
        at.storeBytes(of: high.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    @inline(__always)
    private mutating func reserve(_ needed: Int) {
        if capacity &- count < needed { grow(by: needed) }
    }

    private mutating func grow(by needed: Int) {
        let larger = max(capacity * 2, count + needed)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.initialize(from: base, count: count)
        if owned { base.deallocate() }
        base = moved
        capacity = larger
        owned = true
    }
}
