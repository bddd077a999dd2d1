/// The on-disk layout of spool segments.
///
/// A segment is a file of records back to back, named after its first record's number
/// so recovery can order segments, and tell that a whole segment lies at or below the
/// acknowledged mark, from the directory listing alone. A record's number is its place:
/// the segment's first number plus the records before it in the file. It is not stored,
/// so a frame can be encoded and checksummed before the spool decides the number.
/// Each record is framed as
///
///     checksum  UInt32   CRC-32C of everything after it (length and body)
///     length    UInt32   body size in bytes
///     body      version UInt8 (2), sequence Int64, topic, key, value,
///               header count UInt32, then each header's name and value
///
/// where topic, key, value and header fields are a UInt32 length and that many bytes;
/// all integers little-endian. The sequence is the change's own (its origin numbers
/// per partition), kept for the caller. The checksum covers the length so a damaged
/// length cannot pair a wrong stretch of bytes with a checksum that happens to match;
/// the version byte lets a later format be told apart instead of misread. Version 1
/// had the same layout with the sequence equal to the number; it still reads.
enum SpoolSegmentFormat {
    static let segmentSuffix = ".spool"
    /// Int64.max has 19 digits; 20 keeps names one width and in numeric order when sorted.
    private static let nameDigits = 20
    private static let frameHeaderBytes = 8
    private static let version: UInt8 = 2
    private static let readableVersions: ClosedRange<UInt8> = 1...2
    /// Fields are prefixed with a UInt32 length.
    static let maximumFieldBytes = Int(UInt32.max)
    /// Record numbers stay below 2^this: the unit's pump packs a record's number beside
    /// its lane's in one word of librdkafka's message id.
    static let numberBits = 48
    /// The first record number the spool never gives; a number on disk at or above it
    /// is damage.
    static let numberLimit: Int64 = 1 << numberBits

    static func segmentName(firstNumber: Int64) -> String {
        let digits = String(firstNumber)
        return String(repeating: "0", count: max(0, nameDigits - digits.count)) + digits + segmentSuffix
    }

    /// The first record number a segment file name stands for, or nil for any other file.
    static func firstNumber(ofSegmentNamed name: String) -> Int64? {
        guard name.hasSuffix(segmentSuffix) else { return nil }
        let digits = name.dropLast(segmentSuffix.count)
        guard digits.count == nameDigits, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }

    /// Where a body's length-prefixed fields start in a frame: after the checksum, the
    /// length, the version and the sequence.
    static let bodyFieldsOffset = frameHeaderBytes + 1 + 8
    /// A frame's bytes besides its fields' own: the fixed part, the topic's, key's and
    /// value's lengths, and the header count.
    private static let fixedBytes = bodyFieldsOffset + 4 + 4 + 4 + 4

    /// The bytes a record takes on disk: what it counts against `maxPendingBytes`.
    static func frameSize(of record: SpoolRecord) -> Int {
        var size = fixedBytes + record.topic.utf8.count + record.key.count + record.value.count
        for header in record.headers {
            size += 4 + header.name.utf8.count + 4 + header.value.count
        }
        return size
    }

    static func encode(_ record: SpoolRecord) -> [UInt8] {
        frame(size: frameSize(of: record), sequence: record.sequence) { writer in
            writer.putField(record.topic)
            record.key.withUnsafeBytes { writer.putField($0) }
            record.value.withUnsafeBytes { writer.putField($0) }
            writer.put(UInt32(record.headers.count))
            for header in record.headers {
                writer.putField(header.name)
                header.value.withUnsafeBytes { writer.putField($0) }
            }
        }
    }

    /// A change's frame from its encoded parts, as the change path has them: the same
    /// bytes as the record's with a key and header values as text.
    static func encode(sequence: Int64, topic: String, key: String, value: [UInt8], headers: [(name: String, value: String)]) -> [UInt8] {
        var size = fixedBytes + topic.utf8.count + key.utf8.count + value.count
        for header in headers {
            size += 4 + header.name.utf8.count + 4 + header.value.utf8.count
        }
        return frame(size: size, sequence: sequence) { writer in
            writer.putField(topic)
            writer.putField(key)
            value.withUnsafeBytes { writer.putField($0) }
            writer.put(UInt32(headers.count))
            for header in headers {
                writer.putField(header.name)
                writer.putField(header.value)
            }
        }
    }

    /// Written straight into the frame's final storage, which is allocated once at its
    /// exact size (`size`, from the fields `fields` writes): this runs on every change a
    /// unit makes.
    private static func frame(size: Int, sequence: Int64, _ fields: (inout FrameWriter) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var writer = FrameWriter(buffer: UnsafeMutableRawBufferPointer(buffer))
            writer.skip(4)  // the checksum, over what follows
            writer.put(UInt32(size - frameHeaderBytes))
            writer.put(version)
            writer.put(sequence)
            fields(&writer)
            precondition(writer.offset == size, "the frame's size and its fields disagree")
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[4..<size]))
            UnsafeMutableRawBufferPointer(buffer).storeBytes(of: checksum.littleEndian, toByteOffset: 0, as: UInt32.self)
            initialized = size
        }
    }

    /// A cursor over a frame's storage, sized beforehand by `frameSize`.
    private struct FrameWriter {
        let buffer: UnsafeMutableRawBufferPointer
        var offset = 0

        mutating func skip(_ count: Int) { offset += count }

        mutating func put<Value: FixedWidthInteger>(_ value: Value) {
            buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: Value.self)
            offset += MemoryLayout<Value>.size
        }

        mutating func putField(_ text: String) {
            var text = text
            text.withUTF8 { putField(UnsafeRawBufferPointer($0)) }
        }

        mutating func putField(_ field: UnsafeRawBufferPointer) {
            precondition(field.count <= maximumFieldBytes, "a spooled record field is limited to 4 GiB")
            put(UInt32(field.count))
            if let base = field.baseAddress, field.count > 0 {
                (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: field.count)
            }
            offset += field.count
        }
    }

    /// Decodes a segment's records in order, numbering them from the file's first
    /// number, and stops at the first one that is damaged.
    static func scan(_ bytes: [UInt8], firstNumber: Int64) -> SegmentScan {
        bytes.withUnsafeBytes { buffer in
            var scan = SegmentScan()
            while scan.validBytes < buffer.count {
                let offset = scan.validBytes
                switch frame(in: buffer, at: offset) {
                case .record(let record, let size):
                    scan.records.append(SpooledRecord(number: firstNumber + Int64(scan.records.count), record: record))
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
        guard let version = reader.integer(UInt8.self), readableVersions.contains(version) else {
            return .malformed("unknown record format version (this build reads versions \(readableVersions.lowerBound) to \(readableVersions.upperBound))")
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
}
