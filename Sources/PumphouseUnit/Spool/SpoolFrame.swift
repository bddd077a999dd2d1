/// A record as the spool writes it: the whole frame (checksum, length and body, in
/// `SpoolSegmentFormat`'s layout) in one allocation, encoded and checksummed before the
/// spool's lock. The data pump sends the change from these same bytes (`withMessage`),
/// so a change is encoded once and nothing else is built for it on its way to
/// librdkafka.
package struct SpoolFrame: Sendable, Hashable {
    /// The frame exactly as it goes to disk.
    package let bytes: [UInt8]
    /// The change's own sequence, as the body holds it.
    package let sequence: Int64

    init(bytes: [UInt8], sequence: Int64) {
        self.bytes = bytes
        self.sequence = sequence
    }

    /// The record's frame.
    package init(_ record: SpoolRecord) {
        self.init(bytes: SpoolSegmentFormat.encode(record), sequence: record.sequence)
    }

    /// A change's frame straight from its encoded parts, with no record between: the
    /// change path's way.
    package init(sequence: Int64, topic: String, key: String, value: [UInt8], headers: [(name: String, value: String)]) {
        self.init(bytes: SpoolSegmentFormat.encode(sequence: sequence, topic: topic, key: key, value: value, headers: headers), sequence: sequence)
    }

    /// The key, the value and the headers where they lie in the frame, for one send.
    struct Message {
        let key: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
        /// The header count, then each header's name and value, as the frame holds them.
        let headers: UnsafeRawBufferPointer

        /// Calls `body` with each header's name and value, in order.
        func forEachHeader(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
            var reader = SpoolByteReader(headers)
            for _ in 0..<reader.integer(UInt32.self)! {
                let name = reader.lengthPrefixedBuffer()!
                body(name, reader.lengthPrefixedBuffer()!)
            }
        }
    }

    /// Calls `body` with the message's parts in this frame's storage (valid only there).
    /// The frame was made by this build's encoder, so its layout is known to hold (the
    /// unwraps cannot fail).
    func withMessage<R>(_ body: (Message) -> R) -> R {
        bytes.withUnsafeBytes { frame in
            var reader = SpoolByteReader(UnsafeRawBufferPointer(rebasing: frame[SpoolSegmentFormat.bodyFieldsOffset...]))
            _ = reader.lengthPrefixedBuffer()!  // the topic: the lane holds it as text
            let key = reader.lengthPrefixedBuffer()!
            let value = reader.lengthPrefixedBuffer()!
            return body(Message(key: key, value: value, headers: reader.rest))
        }
    }
}
