/// A header where it lies: its name's bytes and its value's (nil: a header without a
/// value). Valid only inside the call that lends it.
public typealias KafkaHeaderBytes = (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)

/// Where the parts of a ``KafkaRecordBytes`` lie in its bytes.
struct KafkaRecordLayout: Hashable {
    /// -1 for an absent key or value: Kafka tells an absent one from an empty one.
    var keyCount: Int
    var valueCount: Int
    var headerCount: Int
    /// The key, the value, then each header as its name's length (4 bytes), its value's
    /// (4 bytes, -1 if absent), its name and its value.
    var byteCount: Int
}

/// A record's key, value and headers in one allocation.
///
/// A consumer copies each record out of librdkafka's buffers (they are freed with the
/// message it polls); as separate arrays that was eight allocations for a contract (key,
/// value, the header list and five header values), made on the polling thread and freed
/// on the one that applies the record, which a replay of a million contracts paid for
/// in the allocator and in reference counting. Here it is one, and decoders read the
/// parts in place through ``KafkaMessage/withUnsafeRecord(_:)``.
///
/// Its storage is written only while it is made, before any other thread can see it, and
/// never after: that is why it can be shared between threads (the standard library's
/// ManagedBuffer, which keeps the layout and the bytes in one allocation, cannot say so
/// itself).
struct KafkaRecordBytes: @unchecked Sendable {
    private final class Storage: ManagedBuffer<KafkaRecordLayout, UInt8> {}
    private let storage: Storage
    private static let lengthSize = MemoryLayout<UInt32>.size

    /// Copies `key`, `value` and the headers `writeHeaders` appends, which must be
    /// `headerCount` headers whose names and values hold `headerBytes` bytes in all.
    static func make(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headerCount: Int, headerBytes: Int,
        _ writeHeaders: (inout HeaderWriter) -> Void
    ) -> KafkaRecordBytes {
        let layout = KafkaRecordLayout(
            keyCount: key?.count ?? -1, valueCount: value?.count ?? -1, headerCount: headerCount,
            byteCount: (key?.count ?? 0) + (value?.count ?? 0) + headerCount * 2 * lengthSize + headerBytes
        )
        let storage = unsafeDowncast(Storage.create(minimumCapacity: layout.byteCount) { _ in layout }, to: Storage.self)
        storage.withUnsafeMutablePointerToElements { elements in
            var writer = HeaderWriter(cursor: UnsafeMutableRawPointer(elements), end: UnsafeMutableRawPointer(elements) + layout.byteCount)
            writer.copy(key)
            writer.copy(value)
            writeHeaders(&writer)
            precondition(writer.written == headerCount && writer.cursor == writer.end, "a Kafka record's headers did not fill what was counted for them")
        }
        return KafkaRecordBytes(storage: storage)
    }

    /// Copies a record made of Swift values.
    static func make(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) -> KafkaRecordBytes {
        key.withOptionalBuffer { key in
            value.withOptionalBuffer { value in
                let headerBytes = headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
                return make(key: key, value: value, headerCount: headers.count, headerBytes: headerBytes) { writer in
                    for header in headers {
                        var name = header.name
                        name.withUTF8 { name in header.value.withOptionalBuffer { writer.append(name: UnsafeRawBufferPointer(name), value: $0) } }
                    }
                }
            }
        }
    }

    /// Appends headers after the key and the value, bounds checked.
    struct HeaderWriter {
        fileprivate var cursor: UnsafeMutableRawPointer
        fileprivate let end: UnsafeMutableRawPointer
        fileprivate var written = 0

        mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
            precondition(cursor + 2 * KafkaRecordBytes.lengthSize <= end, "a Kafka record's headers overran what was counted for them")
            cursor.storeBytes(of: UInt32(name.count), toByteOffset: 0, as: UInt32.self)
            cursor.storeBytes(of: value.map { Int32($0.count) } ?? -1, toByteOffset: KafkaRecordBytes.lengthSize, as: Int32.self)
            cursor += 2 * KafkaRecordBytes.lengthSize
            copy(name)
            copy(value)
            written += 1
        }

        fileprivate mutating func copy(_ bytes: UnsafeRawBufferPointer?) {
            guard let bytes, let base = bytes.baseAddress, !bytes.isEmpty else { return }
            precondition(cursor + bytes.count <= end, "a Kafka record's parts overran what was counted for them")
            cursor.copyMemory(from: base, byteCount: bytes.count)
            cursor += bytes.count
        }
    }

    /// Lends the key, the value and the headers where they lie, for the call only.
    func withParts<R, E: Error>(
        _ body: (_ key: UnsafeRawBufferPointer?, _ value: UnsafeRawBufferPointer?, _ headers: UnsafeBufferPointer<KafkaHeaderBytes>) throws(E) -> R
    ) throws(E) -> R {
        defer { withExtendedLifetime(storage) {} }
        let (layout, base) = storage.withUnsafeMutablePointers { layout, elements in (layout.pointee, UnsafeRawPointer(elements)) }
        var cursor = base
        func take(_ count: Int) -> UnsafeRawBufferPointer? {
            guard count >= 0 else { return nil }
            defer { cursor += count }
            return UnsafeRawBufferPointer(start: cursor, count: count)
        }
        let key = take(layout.keyCount), value = take(layout.valueCount)
        guard layout.headerCount > 0 else { return try body(key, value, UnsafeBufferPointer(start: nil, count: 0)) }
        return try withUnsafeTemporaryAllocation(of: KafkaHeaderBytes.self, capacity: layout.headerCount) { headers in
            for index in 0..<layout.headerCount {
                let nameCount = Int(cursor.loadUnaligned(as: UInt32.self))
                let valueCount = Int(cursor.loadUnaligned(fromByteOffset: Self.lengthSize, as: Int32.self))
                cursor += 2 * Self.lengthSize
                let name = take(nameCount)!
                headers.initializeElement(at: index, to: (name, take(valueCount)))
            }
            return Result { () throws(E) in try body(key, value, UnsafeBufferPointer(headers)) }
        }.get()
    }
}

extension KafkaRecordBytes: Hashable {
    /// The same parts make the same bytes, so comparing the bytes compares the parts.
    static func == (lhs: KafkaRecordBytes, rhs: KafkaRecordBytes) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.storage.header == rhs.storage.header && lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } })
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(storage.header)
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    private func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeMutablePointerToElements { body(UnsafeRawBufferPointer(start: $0, count: storage.header.byteCount)) }
    }
}
