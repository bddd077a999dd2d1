import Foundation
import PropertyBased
import Testing
import PumphouseTestSupport
import Synchronization

/// Per-case seeds for the property and fuzz checks, drawn in order from one base seed that
/// is printed before the first case.
///
/// A case that crashes the process (a stack overflow, a trap) ends the run before
/// PropertyBased can report anything. With the base seed on stderr first,
/// `PUMPHOUSE_FUZZ_SEED=<seed>` replays the same cases in the same order, up to the crash.
/// A failed expectation names its case's seed (the input PropertyBased prints); the
/// `.fixedSeed` PropertyBased suggests then does not apply, as these cases ignore its
/// generator.
enum CaseSeeds {
    static func generator(_ check: String) -> Generator<UInt64, Shrink.None<UInt64>> {
        let given = ProcessInfo.processInfo.environment["PUMPHOUSE_FUZZ_SEED"]
        guard given.map({ UInt64($0) != nil }) ?? true else {
            fatalError("PUMPHOUSE_FUZZ_SEED=\(given!) is not a seed; give the decimal number a check printed")
        }
        let base = given.flatMap { UInt64($0) } ?? UInt64.random(in: 0 ... .max)
        FileHandle.standardError.write(Data("\(check): cases drawn from base seed \(base) (PUMPHOUSE_FUZZ_SEED=\(base) repeats them)\n".utf8))
        let stream = Mutex(SplitMix(state: base))
        return Generator { _ in stream.withLock { $0.next() } }
    }

    /// Runs `body` for `count` cases of `check`'s seeds, yielding before each: a fuzz
    /// check runs for seconds on the cooperative pool, and without yielding it held a
    /// 2-core machine's two threads from the tests beside it (a refused connection timed
    /// in another suite took 13 s to be reported).
    static func check(
        count: Int, _ check: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: (UInt64) async throws -> Void
    ) async {
        await propertyCheck(count: count, input: generator(check), perform: { seed in
            await Task.yield()
            try await body(seed)
        }, sourceLocation: sourceLocation)
    }
}
