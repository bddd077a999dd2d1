/// The on-disk layout of spool segments.
///
/// A segment is a file of records back to back, named after its first record's sequence
/// so recovery can order segments, and tell that a whole segment lies at or below the
/// acknowledged mark, from the directory listing alone. Each record is framed as
///
///     checksum  UInt32   CRC-32C of everything after it (length and body)
///     length    UInt32   body size in bytes
///     body      version UInt8 (1), sequence Int64, topic, key, value,
///               header count UInt32, then each header's name and value
///
/// where topic, key, value and header fields are a UInt32 length and that many bytes;
/// all integers little-endian. The checksum covers the length so a damaged length
/// cannot pair a wrong stretch of bytes with a checksum that happens to match; the
/// version byte lets a later format be told apart instead of misread.
enum SpoolSegmentFormat {
    static let segmentSuffix = ".spool"
    /// Int64.max has 19 digits; 20 keeps names one width and in numeric order when sorted.
    private static let nameDigits = 20
    private static let frameHeaderBytes = 8
    private static let version: UInt8 = 1
    /// Fields are prefixed with a UInt32 length.
    static let maximumFieldBytes = Int(UInt32.max)

    static func segmentName(firstSequence: Int64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, nameDigits - digits.count)) + digits + segmentSuffix
    }

    /// The first sequence a segment file name stands for, or nil for any other file.
    static func firstSequence(ofSegmentNamed name: String) -> Int64? {
        guard name.hasSuffix(segmentSuffix) else { return nil }
        let digits = name.dropLast(segmentSuffix.count)
        guard digits.count == nameDigits, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }

    /// The bytes a record takes on disk: what it counts against `maxPendingBytes`.
    static func frameSize(of record: SpoolRecord) -> Int {
        var size = frameHeaderBytes + 1 + 8 + 4 + record.topic.utf8.count + 4 + record.key.count + 4 + record.value.count + 4
        for header in record.headers {
            size += 4 + header.name.utf8.count + 4 + header.value.count
        }
        return size
    }

    static func encode(_ record: SpoolRecord) -> [UInt8] {
        let size = frameSize(of: record)
        var frame = [UInt8]()
        frame.reserveCapacity(size)
        append(UInt32(0), to: &frame)  // checksum, filled in below
        append(UInt32(size - frameHeaderBytes), to: &frame)
        frame.append(version)
        append(record.sequence, to: &frame)
        appendField(record.topic.utf8, to: &frame)
        appendField(record.key, to: &frame)
        appendField(record.value, to: &frame)
        append(UInt32(record.headers.count), to: &frame)
        for header in record.headers {
            appendField(header.name.utf8, to: &frame)
            appendField(header.value, to: &frame)
        }
        let checksum = frame.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[4...])) }
        withUnsafeBytes(of: checksum.littleEndian) { frame.replaceSubrange(0..<4, with: $0) }
        return frame
    }

    /// Decodes a segment's records in order, stopping at the first one that is damaged
    /// or out of sequence.
    ///
    /// - Parameters:
    ///   - firstSequence: the sequence in the file's name, which its first record must carry.
    ///   - previousSequence: the last sequence of the older segments; records must pass it.
    static func scan(_ bytes: [UInt8], firstSequence: Int64, previousSequence: Int64) -> SegmentScan {
        bytes.withUnsafeBytes { buffer in
            var scan = SegmentScan()
            var previous = previousSequence
            while scan.validBytes < buffer.count {
                let offset = scan.validBytes
                switch frame(in: buffer, at: offset) {
                case .record(let record, let size):
                    if scan.records.isEmpty, record.sequence != firstSequence {
                        scan.damage = .init(offset: offset, reason: "the first record has sequence \(record.sequence) but the file name says \(firstSequence)", mayBeTornWrite: false)
                        return scan
                    }
                    guard record.sequence > previous else {
                        scan.damage = .init(offset: offset, reason: "sequence \(record.sequence) does not follow \(previous)", mayBeTornWrite: false)
                        return scan
                    }
                    previous = record.sequence
                    scan.records.append(record)
                    scan.validBytes += size
                case .cutShort(let reason):
                    scan.damage = .init(offset: offset, reason: reason, mayBeTornWrite: true)
                    return scan
                case .checksumMismatch(let size):
                    // A write cut short leaves nothing intact behind it; an intact record right
                    // after this one means this one was damaged in place.
                    var followedByRecord = false
                    if case .record = frame(in: buffer, at: offset + size) { followedByRecord = true }
                    scan.damage = .init(offset: offset, reason: "checksum mismatch in a record of \(size) bytes", mayBeTornWrite: !followedByRecord)
                    return scan
                case .malformed(let reason):
                    scan.damage = .init(offset: offset, reason: reason, mayBeTornWrite: false)
                    return scan
                }
            }
            return scan
        }
    }

    private enum Frame {
        case record(SpoolRecord, size: Int)
        /// The file ends inside the frame.
        case cutShort(String)
        case checksumMismatch(size: Int)
        /// The checksum matches, so these are the bytes written, yet they do not decode.
        case malformed(String)
    }

    private static func frame(in buffer: UnsafeRawBufferPointer, at offset: Int) -> Frame {
        let remaining = buffer.count - offset
        guard remaining >= frameHeaderBytes else {
            return .cutShort("\(remaining) bytes at the end of the file are too few for a record header")
        }
        let stored = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let bodyLength = Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        let size = frameHeaderBytes + bodyLength
        guard size <= remaining else {
            return .cutShort("a record of \(size) bytes runs past the end of the file (\(remaining) bytes left)")
        }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[offset + 4..<offset + size])) == stored else {
            return .checksumMismatch(size: size)
        }
        var reader = SpoolByteReader(UnsafeRawBufferPointer(rebasing: buffer[offset + frameHeaderBytes..<offset + size]))
        guard let version = reader.integer(UInt8.self), version == self.version else {
            return .malformed("unknown record format version (this build reads version \(self.version))")
        }
        guard let record = body(&reader), reader.isAtEnd else {
            return .malformed("the record body does not decode")
        }
        return .record(record, size: size)
    }

    private static func body(_ reader: inout SpoolByteReader) -> SpoolRecord? {
        guard let sequence = reader.integer(Int64.self),
              let topic = reader.text(),
              let key = reader.lengthPrefixed(),
              let value = reader.lengthPrefixed(),
              let headerCount = reader.integer(UInt32.self)
        else { return nil }
        var headers: [SpoolHeader] = []
        for _ in 0..<headerCount {
            guard let name = reader.text(), let headerValue = reader.lengthPrefixed() else { return nil }
            headers.append(SpoolHeader(name: name, value: headerValue))
        }
        return SpoolRecord(sequence: sequence, topic: topic, key: key, value: value, headers: headers)
    }

    private static func append<Value: FixedWidthInteger>(_ value: Value, to frame: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { frame.append(contentsOf: $0) }
    }

    private static func appendField<Field: Collection<UInt8>>(_ field: Field, to frame: inout [UInt8]) {
        precondition(field.count <= maximumFieldBytes, "a spooled record field is limited to 4 GiB")
        append(UInt32(field.count), to: &frame)
        frame.append(contentsOf: field)
    }
}
