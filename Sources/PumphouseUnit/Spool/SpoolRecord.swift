/// One change as it travels to Kafka, kept in the spool until the broker acknowledges it.
///
/// The sequence is the origin's own number for the change (per origin and partition),
/// because downstream collapses duplicates by (origin, sequence): a record resent after
/// a restart must carry exactly the number it was first published with. The spool keeps
/// it but orders records by its own numbers (``SpooledRecord``), since changes to
/// different partitions are numbered apart and reach the spool interleaved.
package struct SpoolRecord: Sendable, Hashable {
    package var sequence: Int64
    package var topic: String
    package var key: [UInt8]
    package var value: [UInt8]
    package var headers: [SpoolHeader]

    package init(sequence: Int64, topic: String, key: [UInt8], value: [UInt8], headers: [SpoolHeader]) {
        self.sequence = sequence
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}
