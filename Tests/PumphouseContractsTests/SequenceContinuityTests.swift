import PumphouseContracts
import Testing

@Suite("Sequence continuity: holes in an origin's numbering")
struct SequenceContinuityTests {
    typealias Mark = SequenceContinuity.Mark

    static func judge(_ sequence: Int64, run incarnation: Int64?, after mark: Mark?) -> SequenceContinuity.Verdict {
        SequenceContinuity.judge(sequence: sequence, incarnation: incarnation, after: mark)
    }

    @Test("within a run, the next number follows; a higher one names the numbers skipped")
    func withinARun() {
        let mark = Mark(sequence: 104, incarnation: 100)
        #expect(Self.judge(105, run: 100, after: mark) == .next)
        #expect(Self.judge(106, run: 100, after: mark) == .gap(missing: 105..<106))
        #expect(Self.judge(200, run: 100, after: mark) == .gap(missing: 105..<200))
    }

    @Test("at or below the mark is a duplicate, whatever the run")
    func duplicates() {
        let mark = Mark(sequence: 104, incarnation: 100)
        #expect(Self.judge(104, run: 100, after: mark) == .duplicate)
        #expect(Self.judge(3, run: 0, after: mark) == .duplicate)
        #expect(Self.judge(104, run: nil, after: mark) == .duplicate)
    }

    @Test("a new run must begin at its own first number: the restart's jump is no hole, a late start is")
    func newRun() {
        let mark = Mark(sequence: 104, incarnation: 100)
        #expect(Self.judge(5_000_000, run: 5_000_000, after: mark) == .next)
        #expect(Self.judge(5_000_003, run: 5_000_000, after: mark) == .gap(missing: 5_000_000..<5_000_003))
        // A mark kept without a run (from a ledger older than incarnations, or a load) is
        // still below a new run.
        #expect(Self.judge(5_000_001, run: 5_000_000, after: Mark(sequence: 104, incarnation: nil)) == .gap(missing: 5_000_000..<5_000_001))
    }

    @Test("what cannot be placed passes: the first change seen, changes without a run, a run that began below the mark")
    func unjudged() {
        #expect(Self.judge(7_000, run: 100, after: nil) == .next)
        #expect(Self.judge(900, run: nil, after: Mark(sequence: 104, incarnation: 100)) == .next)
        // The mark's run is unknown and this run began below it: the mark may be this run's.
        #expect(Self.judge(110, run: 100, after: Mark(sequence: 104, incarnation: nil)) == .next)
        #expect(Self.judge(110, run: 90, after: Mark(sequence: 104, incarnation: 100)) == .next)
    }

    @Test("without checking holes (a compacted topic) only duplicates are told apart")
    func compacted() {
        let mark = Mark(sequence: 104, incarnation: 100)
        #expect(SequenceContinuity.judge(sequence: 200, incarnation: 100, after: mark, checkingHoles: false) == .next)
        #expect(SequenceContinuity.judge(sequence: 5_000_003, incarnation: 5_000_000, after: mark, checkingHoles: false) == .next)
        #expect(SequenceContinuity.judge(sequence: 104, incarnation: 100, after: mark, checkingHoles: false) == .duplicate)
    }

    @Test("a stream folded mark by mark finds exactly the holes made in it")
    func folded() {
        // Two runs of one origin: 10..<20 with 13 and 16..<18 lost, then 1_000..<1_010
        // with its first two lost; resends of 11 and 12 between.
        var numbers: [(Int64, Int64)] = (10..<20).filter { $0 != 13 && !(16..<18).contains($0) }.map { ($0, 10) }
        numbers.insert((11, 10), at: 4)
        numbers.insert((12, 10), at: 5)
        numbers += (1_002..<1_010).map { ($0, 1_000) }
        var mark: Mark?
        var holes: [Range<Int64>] = []
        var duplicates = 0
        for (sequence, run) in numbers {
            switch Self.judge(sequence, run: run, after: mark) {
            case .duplicate: duplicates += 1; continue
            case .gap(let missing): holes.append(missing)
            case .next: break
            }
            mark = Mark(sequence: sequence, incarnation: run)
        }
        #expect(holes == [13..<14, 16..<18, 1_000..<1_002])
        #expect(duplicates == 2)
    }
}
