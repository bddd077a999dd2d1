/// A segment file on disk, by the record numbers it holds: enough to know when the
/// acknowledged mark has passed all of it and the file can go.
struct SpoolSegment: Sendable, Hashable {
    var firstNumber: Int64
    var lastNumber: Int64

    var fileName: String { SpoolSegmentFormat.segmentName(firstNumber: firstNumber) }
}
