/// Where a data reader's answer to a load starts on a cache's reverse-pump topic.
///
/// The answer holds the rows and, in its end marker, the topic offsets they stand for,
/// so any unit that reads it and then applies the cache topic from those offsets ends
/// with the same state, however old the answer: this is how a unit joining live peers
/// loads without the database.
public struct CacheSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// The request the answer belongs to.
    public var request: String
    /// The offset of the answer's first message on the reverse-pump topic (partition 0).
    public var offset: Int64

    public init(request: String, offset: Int64) {
        self.request = request
        self.offset = offset
    }

    public var description: String { "answer \(request) at offset \(offset)" }
}
