/// A Kafka message header, kept in the spool so a resent record is byte-for-byte the one
/// first published (consumers may route or deduplicate on headers).
package struct SpoolHeader: Sendable, Hashable {
    package var name: String
    package var value: [UInt8]

    package init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}
