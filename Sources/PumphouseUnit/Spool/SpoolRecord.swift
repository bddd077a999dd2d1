/// One change as it travels to Kafka, kept in the spool until the broker acknowledges it.
///
/// The sequence is the origin's own number rather than one the spool assigns, because
/// downstream collapses duplicates by (origin, sequence): a record resent after a restart
/// must carry exactly the number it was first published with.
public struct SpoolRecord: Sendable, Hashable {
    /// Strictly increasing across appends and restarts.
    public var sequence: Int64
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [SpoolHeader]

    public init(sequence: Int64, topic: String, key: [UInt8], value: [UInt8], headers: [SpoolHeader]) {
        self.sequence = sequence
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}
