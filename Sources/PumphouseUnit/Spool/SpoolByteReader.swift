/// Reads the little-endian fields of one record body, failing instead of trapping when
/// the body is shorter than its fields claim (a checksum can only say the bytes are the
/// ones written, not that the code that wrote them agrees with this one).
struct SpoolByteReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func integer<Value: FixedWidthInteger>(_: Value.Type) -> Value? {
        let size = MemoryLayout<Value>.size
        guard bytes.count - offset >= size else { return nil }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: Value.self)
        offset += size
        return Value(littleEndian: value)
    }

    /// A length-prefixed byte string, where it lies (valid as long as the bytes read).
    mutating func lengthPrefixedBuffer() -> UnsafeRawBufferPointer? {
        guard let length = integer(UInt32.self), bytes.count - offset >= Int(length) else { return nil }
        defer { offset += Int(length) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
    }

    /// A length-prefixed byte string, copied.
    mutating func lengthPrefixed() -> [UInt8]? {
        lengthPrefixedBuffer().map(Array.init)
    }

    /// What is left to read.
    var rest: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[offset...]) }

    /// A length-prefixed string that must be valid UTF-8 (it was a Swift String).
    mutating func text() -> String? {
        guard let field = lengthPrefixed() else { return nil }
        return String(validating: field, as: UTF8.self)
    }
}
