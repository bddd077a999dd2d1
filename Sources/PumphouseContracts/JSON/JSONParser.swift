/// A strict JSON parser (RFC 8259): invalid UTF-8, duplicate member names, trailing
/// data, lone surrogates and leading zeros are errors, never guesses. Input size and
/// nesting depth are bounded so hostile input costs bounded memory and stack.
public struct JSONParser: Sendable {
    public var maxBytes: Int
    public var maxDepth: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    public func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) in try parse(buffer) }
        }
        return try result.get()
    }

    /// Parses bytes where they lie (a Kafka client's message buffer, say), so a caller
    /// holding foreign memory need not copy it into an array first.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONValue {
        guard bytes.count <= maxBytes else { throw JSONError(reason: .tooLarge(limit: maxBytes), offset: maxBytes) }
        var cursor = JSONCursor(bytes: bytes, maxDepth: maxDepth)
        cursor.skipWhitespace()
        let value = try cursor.value(depth: 0)
        try cursor.end()
        return value
    }

    public func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// The parser's position in its input, and the grammar. The contract codec reads its
/// envelope through it too, member by member, instead of building an object first.
struct JSONCursor {
    /// Members after which duplicate names are found by hashing rather than scanning.
    static let hashedNamesFrom = 32

    /// A string as found in the input: where its body lies, whether it is all ASCII,
    /// and its bytes if escapes made them differ from the input's.
    struct ScannedString {
        var start: Int
        var end: Int
        var ascii: Bool
        var unescaped: [UInt8]?
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    /// `SmallASCII.layoutHolds`, looked up once per document rather than per string.
    let smallStrings = SmallASCII.layoutHolds
    var index = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes.assumingMemoryBound(to: UInt8.self)
        self.maxDepth = maxDepth
    }

    func fail(_ reason: JSONError.Reason, at offset: Int? = nil) -> JSONError {
        JSONError(reason: reason, offset: offset ?? index)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        // Compact JSON, as the codec writes it, has none.
        guard index < bytes.count, bytes[index] <= 0x20 else { return }
        skipWhitespaceRun()
    }

    mutating func skipWhitespaceRun() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Past the value only whitespace may follow.
    mutating func end() throws(JSONError) {
        skipWhitespace()
        guard index == bytes.count else { throw fail(.trailingData) }
    }

    func peek() throws(JSONError) -> UInt8 {
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        return bytes[index]
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail(.unexpectedEnd) }
        let start = literal.utf8Start
        for i in 0..<count where bytes[index + i] != start[i] {
            throw fail(.unexpectedByte(bytes[index + i]), at: index + i)
        }
        index += count
        return value
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try array(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try stringValue())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case let other: throw fail(.unexpectedByte(other))
        }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONObject {
        guard depth <= maxDepth else { throw fail(.tooDeep(limit: maxDepth)) }
        index += 1
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return JSONObject()
        }
        // Members go into an array of our own, moved into the object at the end: each
        // name and value is moved, never copied.
        var members: [JSONObject.Member] = []
        members.reserveCapacity(16)
        // A 64-bit filter on (length, first byte): the linear duplicate scan
        // runs only when a name might repeat one seen before. A large object saturates
        // the filter and would make that scan quadratic (minutes for a hostile 1 MiB
        // body), so past `hashedNamesFrom` members the names' bytes go into a set.
        var seen: UInt64 = 0
        var hashedNames = Set<[UInt8]>()
        while true {
            skipWhitespace()
            let nameOffset = index
            guard try peek() == UInt8(ascii: "\"") else { throw fail(.unexpectedByte(bytes[index])) }
            // A short name stays two words until its member is made: a String held
            // across the value's parsing would cost a retain and a release.
            let small = smallStrings ? smallString() : nil
            let scanned = small == nil ? try string() : nil
            func name() -> String {
                if let small { return SmallASCII.string(low: small.low, high: small.high, count: small.count) }
                return text(scanned!)
            }
            if members.count >= Self.hashedNamesFrom {
                if hashedNames.isEmpty { hashedNames = Set(members.map { Array($0.name.utf8) }) }
                let name = name()
                guard hashedNames.insert(Array(name.utf8)).inserted else { throw fail(.duplicateMember(name), at: nameOffset) }
            } else {
                let bit = if let small {
                    Self.filterBit(count: small.count, first: UInt8(truncatingIfNeeded: small.low))
                } else {
                    Self.filterBit(count: length(scanned!), first: first(scanned!))
                }
                if seen & bit != 0 {
                    let name = name()
                    if members.contains(where: { $0.name.isSameBytes(as: name) }) { throw fail(.duplicateMember(name), at: nameOffset) }
                }
                seen |= bit
            }
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw fail(.unexpectedByte(bytes[index])) }
            index += 1
            skipWhitespace()
            let value = try value(depth: depth)
            members.append(JSONObject.Member(name: name(), value: value))
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return JSONObject(members)
            case let other: throw fail(.unexpectedByte(other))
            }
        }
    }

    /// The duplicate filter's bit for a name of this length and first byte.
    static func filterBit(count: Int, first: UInt8) -> UInt64 {
        1 << ((UInt64(truncatingIfNeeded: count) &* 7 &+ UInt64(first)) & 63)
    }

    mutating func array(depth: Int) throws(JSONError) -> [JSONValue] {
        guard depth <= maxDepth else { throw fail(.tooDeep(limit: maxDepth)) }
        index += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            index += 1
            return array
        }
        while true {
            skipWhitespace()
            array.append(try value(depth: depth))
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return array
            case let other: throw fail(.unexpectedByte(other))
            }
        }
    }

    /// The string at the cursor (which is on its opening quote) as a String.
    mutating func stringValue() throws(JSONError) -> String {
        if smallStrings, let small = smallString() {
            return SmallASCII.string(low: small.low, high: small.high, count: small.count)
        }
        return text(try string())
    }

    /// The string at the cursor (on its opening quote), if it is one of at most 15
    /// ASCII bytes without escapes, as `SmallASCII` holds it, and the cursor past it;
    /// else nil and the cursor where it was, for `string()` to read. The two words
    /// that hold such a string are all it reads, where the input goes on far enough.
    @inline(__always)
    mutating func smallString() -> (low: UInt64, high: UInt64, count: Int)? {
        let start = index &+ 1
        guard start &+ 16 <= bytes.count, let base = bytes.baseAddress else { return nil }
        var low = UInt64(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt64.self))
        var high: UInt64 = 0
        let count: Int
        let lowSpecial = Self.specialBytes(low)
        if lowSpecial != 0 {
            count = lowSpecial.trailingZeroBitCount &>> 3
        } else {
            high = UInt64(littleEndian: UnsafeRawPointer(base + start + 8).loadUnaligned(as: UInt64.self))
            let highSpecial = Self.specialBytes(high)
            guard highSpecial != 0 else { return nil }
            count = 8 &+ highSpecial.trailingZeroBitCount &>> 3
        }
        guard base[start &+ count] == UInt8(ascii: "\"") else { return nil }
        low &= SmallASCII.mask(bytes: count)
        high &= SmallASCII.mask(bytes: count &- 8)
        guard (low | high) & 0x8080_8080_8080_8080 == 0 else { return nil }
        index = start &+ count &+ 1
        return (low, high, count)
    }

    /// The string at the cursor (which is on its opening quote), checked but not yet
    /// made a `String`: a caller that only compares it need not pay for one.
    mutating func string() throws(JSONError) -> ScannedString {
        index += 1
        let start = index
        let count = bytes.count
        // Bits 7 of every byte seen, so only strings beyond ASCII are validated.
        var high: UInt64 = 0
        // Eight bytes at a time up to the first quote, backslash or control byte;
        // the loop below decides what that byte means.
        if let base = bytes.baseAddress {
            while index &+ 8 <= count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let special = Self.specialBytes(word)
                if special == 0 {
                    high |= word
                    index &+= 8
                    continue
                }
                let before = special.trailingZeroBitCount >> 3
                high |= word & ((1 &<< UInt64(before &* 8)) &- 1)
                index &+= before
                break
            }
        }
        while index < count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let end = index
                index += 1
                let ascii = high & 0x8080_8080_8080_8080 == 0
                if !ascii {
                    guard UTF8Validation.isValid(UnsafeBufferPointer(rebasing: bytes[start..<end])) else { throw fail(.invalidUTF8, at: start) }
                }
                return ScannedString(start: start, end: end, ascii: ascii)
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw fail(.unexpectedByte(byte)) }
            high |= UInt64(byte)
            index += 1
        }
        throw fail(.unexpectedEnd)
    }

    /// A byte's bit 7 set where `word` holds a quote, a backslash or a control
    /// character. Set bits above the lowest one may be false; the lowest never is.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        return ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes | (word &- ones &* 0x20) & ~word) & highs
    }

    /// The string's decoded UTF-8, valid by now.
    func withUTF8<R>(_ scanned: ScannedString, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let unescaped = scanned.unescaped { return unescaped.withUnsafeBufferPointer(body) }
        return body(UnsafeBufferPointer(rebasing: bytes[scanned.start..<scanned.end]))
    }

    func text(_ scanned: ScannedString) -> String {
        if smallStrings, let words = smallWords(scanned) {
            return SmallASCII.string(low: words.low, high: words.high, count: words.count)
        }
        return withUTF8(scanned) { String(decoding: $0, as: UTF8.self) }
    }

    /// A string of at most 15 ASCII bytes and no escapes as `SmallASCII` holds it:
    /// two words, from two loads where the input goes on far enough. Nil for others.
    func smallWords(_ scanned: ScannedString) -> (low: UInt64, high: UInt64, count: Int)? {
        let start = scanned.start
        let count = scanned.end &- start
        guard scanned.ascii, count <= SmallASCII.capacity, scanned.unescaped == nil else { return nil }
        var low: UInt64 = 0, high: UInt64 = 0
        if start &+ 16 <= bytes.count, let base = bytes.baseAddress {
            low = UInt64(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt64.self)) & SmallASCII.mask(bytes: count)
            high = UInt64(littleEndian: UnsafeRawPointer(base + start + 8).loadUnaligned(as: UInt64.self)) & SmallASCII.mask(bytes: count &- 8)
        } else {
            for offset in 0..<count {
                let byte = UInt64(bytes[start + offset])
                if offset < 8 { low |= byte << (offset * 8) } else { high |= byte << ((offset - 8) * 8) }
            }
        }
        return (low, high, count)
    }

    func length(_ scanned: ScannedString) -> Int {
        scanned.unescaped?.count ?? scanned.end - scanned.start
    }

    func first(_ scanned: ScannedString) -> UInt8 {
        if let unescaped = scanned.unescaped { return unescaped.first ?? 0 }
        return scanned.end > scanned.start ? bytes[scanned.start] : 0
    }

    mutating func escapedString(from start: Int) throws(JSONError) -> ScannedString {
        var scratch = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                let valid = scratch.withUnsafeBufferPointer { UTF8Validation.isValid($0) }
                guard valid else { throw fail(.invalidUTF8, at: start) }
                return ScannedString(start: start, end: index - 1, ascii: false, unescaped: scratch)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail(.unexpectedEnd) }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail(.invalidEscape)
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail(.invalidEscape) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail(.invalidEscape)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail(.invalidEscape) }
                    scratch.append(contentsOf: UTF8.encode(unicode)!)
                default:
                    throw fail(.invalidEscape, at: index - 1)
                }
            default:
                if byte < 0x20 { throw fail(.unexpectedByte(byte)) }
                scratch.append(byte)
                index += 1
            }
        }
        throw fail(.unexpectedEnd)
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// The digit at the cursor, if there is one.
    @inline(__always)
    func digit() -> UInt64? {
        guard index < bytes.count else { return nil }
        let d = bytes[index] &- UInt8(ascii: "0")
        return d < 10 ? UInt64(d) : nil
    }

    /// Moves past digits, returning their value modulo 2^64.
    @inline(__always)
    mutating func digits() -> UInt64 {
        var value: UInt64 = 0
        while index < bytes.count {
            let d = bytes[index] &- UInt8(ascii: "0")
            guard d < 10 else { break }
            value = value &* 10 &+ UInt64(d)
            index &+= 1
        }
        return value
    }

    mutating func number() throws(JSONError) -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let digitsStart = index
        var magnitude = digits()
        let digitCount = index - digitsStart
        guard digitCount > 0 else { throw fail(.invalidNumber, at: start) }
        if digitCount > 1 && bytes[digitsStart] == UInt8(ascii: "0") { throw fail(.invalidNumber, at: start) }
        // Nineteen digits always fit 64 bits; longer runs are summed again, checked.
        var overflow = false
        if digitCount > 19 {
            magnitude = 0
            for offset in digitsStart..<index {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[offset] - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = sum
            }
        }
        let isInteger = index == bytes.count || (bytes[index] != UInt8(ascii: ".") && bytes[index] | 0x20 != UInt8(ascii: "e"))
        if isInteger && !overflow {
            if negative {
                if magnitude <= UInt64(Int64.max) + 1 { return .int(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)) }
            } else if magnitude <= UInt64(Int64.max) {
                return .int(Int64(magnitude))
            }
        }
        // The value as digits times a power of ten, while the digits fit a double
        // exactly; the double is then exact arithmetic away (see `exactDouble`).
        var significand = magnitude
        var exact = !overflow && magnitude <= Self.exactSignificandLimit
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while let d = digit() {
                if exact {
                    significand = significand &* 10 &+ d
                    exact = significand <= Self.exactSignificandLimit
                    exponent -= 1
                }
                index += 1
            }
            guard index > fractionStart else { throw fail(.invalidNumber, at: start) }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            var written = 0
            while let d = digit() {
                // Beyond four digits the exponent is far outside the exact range anyway.
                if written < 10_000 { written = written * 10 + Int(d) }
                index += 1
            }
            guard index > exponentStart else { throw fail(.invalidNumber, at: start) }
            exponent += exponentNegative ? -written : written
        }
        if exact, let value = Self.exactDouble(significand, exponent) {
            return .double(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw fail(.invalidNumber, at: start) }
        return .double(double)
    }

    /// 2^53: every integer up to it is a double.
    static let exactSignificandLimit: UInt64 = 1 << 53

    /// `significand` × 10^`exponent`, when both factors are doubles exactly (10^22 is
    /// the largest such power): one IEEE multiplication or division of exact operands
    /// rounds correctly, so this is the double nearest the decimal, as `Double(String)`
    /// would give, without building the text.
    static func exactDouble(_ significand: UInt64, _ exponent: Int) -> Double? {
        guard exponent >= -22 && exponent <= 22 else { return nil }
        let value = Double(significand)
        if exponent == 0 { return value }
        var power = 1.0
        for _ in 0..<exponent.magnitude { power *= 10 }
        return exponent > 0 ? value * power : value / power
    }
}

/// Whether two byte runs are the same, eight bytes at a time: `elementsEqual` on
/// buffers costs several times more, through iterators.
func equalBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var offset = 0
    while offset &+ 8 <= a.count {
        guard a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) else { return false }
        offset &+= 8
    }
    while offset < a.count {
        guard a[offset] == b[offset] else { return false }
        offset &+= 1
    }
    return true
}

/// Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above
/// U+10FFFF. `String(decoding:)` would silently replace such bytes, and the standard
/// library's validating initializer is not specialized for buffers, so this is faster.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            func continuation(_ offset: Int) -> UInt8? {
                guard i + offset < n, bytes[i + offset] & 0xC0 == 0x80 else { return nil }
                return bytes[i + offset]
            }
            switch b0 {
            case 0xC2...0xDF:
                guard continuation(1) != nil else { return false }
                i += 2
            case 0xE0...0xEF:
                guard let b1 = continuation(1), continuation(2) != nil else { return false }
                if b0 == 0xE0 && b1 < 0xA0 { return false }  // overlong
                if b0 == 0xED && b1 > 0x9F { return false }  // surrogate
                i += 3
            case 0xF0...0xF4:
                guard let b1 = continuation(1), continuation(2) != nil, continuation(3) != nil else { return false }
                if b0 == 0xF0 && b1 < 0x90 { return false }  // overlong
                if b0 == 0xF4 && b1 > 0x8F { return false }  // above U+10FFFF
                i += 4
            default:
                return false
            }
        }
        return true
    }
}
