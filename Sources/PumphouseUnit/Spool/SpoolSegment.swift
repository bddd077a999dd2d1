/// A segment file on disk, by the sequences it holds: enough to know when the
/// acknowledged mark has passed all of it and the file can go.
struct SpoolSegment: Sendable, Hashable {
    var firstSequence: Int64
    var lastSequence: Int64

    var fileName: String { SpoolSegmentFormat.segmentName(firstSequence: firstSequence) }
}
