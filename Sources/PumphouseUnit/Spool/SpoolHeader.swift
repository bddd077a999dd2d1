/// A Kafka message header, kept in the spool so a resent record is byte-for-byte the one
/// first published (consumers may route or deduplicate on headers).
public struct SpoolHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}
