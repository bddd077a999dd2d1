/// Rows of a data reader's answer carried in one reverse-pump message.
///
/// A cold start moves every row of a table through the broker. Sent one message per
/// row, each row paid librdkafka's per-message work twice (the reader's producer, the
/// unit's consumer), the broker's per-record work and the message's headers; on a
/// 2-core machine those, not PostgreSQL, set the pace. Packed together, the rows pay
/// that once per message.
///
/// Each row is its add contract as it travels: the key's bytes and the encoded body,
/// each after its length as a 4-byte big-endian count. The body names the contract,
/// version, action, origin and sequence itself (a contract's headers only repeat them),
/// so no row carries headers.
package struct ReverseRows: Sendable {
    package private(set) var bytes: [UInt8]
    package private(set) var count: Int

    /// Where a batch is sent: well under librdkafka's and Kafka's default
    /// `message.max.bytes` (1,000,000), and large enough that a batch of small rows
    /// carries hundreds of them.
    package static let targetBytes = 256 * 1024

    package init() {
        bytes = []
        count = 0
    }

    /// The rows of a message's value; nil if the value is not a whole sequence of rows
    /// (a length running past the end), which a loader reports as an unreadable answer.
    package init?(bytes: [UInt8]) {
        var count = 0
        let whole = bytes.withUnsafeBytes { buffer -> Bool in
            var reader = FrameReader(buffer)
            while !reader.atEnd {
                guard reader.next() != nil else { return false }
                count += 1
            }
            return true
        }
        guard whole else { return nil }
        self.bytes = bytes
        self.count = count
    }

    /// One row, as an old reader sent it in a message of its own.
    package init(key: [UInt8], value: [UInt8]) {
        self.init()
        append(key: key, value: value)
    }

    /// The most a batch may hold: under librdkafka's and Kafka's default
    /// `message.max.bytes` (1,000,000) with room for the message's key, headers and
    /// framing. A batch is sent before a row that would take it past this, so one large
    /// row after 256 KiB of small ones cannot make a message the producer refuses.
    package static let maxBytes = 900_000

    /// What `append` adds for a row of these sizes.
    package static func framedBytes(keyCount: Int, valueCount: Int) -> Int { 8 + keyCount + valueCount }

    /// Whether a row of these sizes fits beside what the batch holds.
    package func fits(keyCount: Int, valueCount: Int) -> Bool {
        bytes.count + Self.framedBytes(keyCount: keyCount, valueCount: valueCount) <= Self.maxBytes
    }

    package var isEmpty: Bool { count == 0 }

    /// Whether the batch should be sent before another row joins it.
    package var isFull: Bool { bytes.count >= Self.targetBytes }

    package mutating func append(key: some Collection<UInt8>, value: [UInt8]) {
        if bytes.isEmpty { bytes.reserveCapacity(Self.targetBytes + 4096) }
        Self.appendLength(key.count, to: &bytes)
        bytes.append(contentsOf: key)
        Self.appendLength(value.count, to: &bytes)
        bytes.append(contentsOf: value)
        count += 1
    }

    /// Empties the batch, keeping its storage for the next one.
    package mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Calls `body` with each row's key and body where they lie in the batch; nothing
    /// is copied. Rows come in the order they were appended.
    package func forEach<E: Error>(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(E) in
                var reader = FrameReader(buffer)
                // Checked whole at init (or built by `append`), so every frame is there.
                while let (key, value) = reader.next() { try body(key, value) }
            }
        }.get()
    }

    private static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
        let value = UInt32(length)
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Walks the frames of a batch, refusing any that runs past its end.
    private struct FrameReader {
        let buffer: UnsafeRawBufferPointer
        var position = 0

        init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

        var atEnd: Bool { position == buffer.count }

        mutating func next() -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
            guard let key = field(), let value = field() else { return nil }
            return (key, value)
        }

        private mutating func field() -> UnsafeRawBufferPointer? {
            guard buffer.count - position >= 4 else { return nil }
            var length = 0
            for index in position..<position + 4 { length = length << 8 | Int(buffer[index]) }
            position += 4
            guard buffer.count - position >= length else { return nil }
            defer { position += length }
            return UnsafeRawBufferPointer(rebasing: buffer[position..<position + length])
        }
    }
}
