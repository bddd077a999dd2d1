/// What a check records of the members or items it evaluated, for an `unevaluated*`
/// keyword above it. Checks are generic over it, so the walk of a schema without such a
/// keyword runs with `Unrecorded`, whose methods do nothing and compile away.
protocol EvaluationRecord {
    /// Whether anything is kept: when not, `anyOf` may stop at its first match.
    static var isRecording: Bool { get }
    init()
    mutating func insert(_ index: Int)
    /// Every member or item, as `additionalProperties`, `items` or `unevaluated*` evaluate.
    mutating func insertAll()
    mutating func formUnion(_ other: Self)
}

struct Unrecorded: EvaluationRecord {
    static var isRecording: Bool { false }
    init() {}
    func insert(_ index: Int) {}
    func insertAll() {}
    func formUnion(_ other: Self) {}
}

/// The members (by their position in the object, so a name is never compared for it) or
/// items (by index) of one value that keywords evaluated: a bit each, the first 64 inline.
struct EvaluatedLocations: EvaluationRecord {
    private var all = false
    private var first: UInt64 = 0
    /// Bit `i % 64` of word `i / 64 - 1` stands for location `i` past the first 64.
    private var rest: [UInt64] = []

    static var isRecording: Bool { true }

    init() {}

    mutating func insert(_ index: Int) {
        guard index >= UInt64.bitWidth else {
            first |= 1 << UInt64(index)
            return
        }
        let word = index / UInt64.bitWidth - 1
        if rest.count <= word { rest.append(contentsOf: repeatElement(0, count: word + 1 - rest.count)) }
        rest[word] |= 1 << UInt64(index % UInt64.bitWidth)
    }

    mutating func insertAll() {
        all = true
    }

    mutating func formUnion(_ other: Self) {
        all = all || other.all
        first |= other.first
        if rest.count < other.rest.count { rest.append(contentsOf: repeatElement(0, count: other.rest.count - rest.count)) }
        for (word, bits) in other.rest.enumerated() { rest[word] |= bits }
    }

    func contains(_ index: Int) -> Bool {
        if all { return true }
        guard index >= UInt64.bitWidth else { return first & (1 << UInt64(index)) != 0 }
        let word = index / UInt64.bitWidth - 1
        return word < rest.count && rest[word] & (1 << UInt64(index % UInt64.bitWidth)) != 0
    }
}
