import Foundation
import PropertyBased
import PumphouseTestSupport
import Synchronization

/// Per-case seeds for the property and fuzz checks, drawn in order from one base seed that
/// is printed before the first case.
///
/// PropertyBased reports the seed of a case that fails an expectation, but a case that
/// crashes the process (a stack overflow, a trap) ends the run before anything is
/// reported. With the base seed on stderr first, `PUMPHOUSE_FUZZ_SEED=<seed>` replays the
/// same cases in the same order, up to the crash.
enum CaseSeeds {
    static func generator(_ check: String) -> Generator<UInt64, Shrink.None<UInt64>> {
        let base = ProcessInfo.processInfo.environment["PUMPHOUSE_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0 ... .max)
        FileHandle.standardError.write(Data("\(check): cases drawn from base seed \(base) (PUMPHOUSE_FUZZ_SEED=\(base) repeats them)\n".utf8))
        let stream = Mutex(SplitMix(state: base))
        return Generator { _ in stream.withLock { $0.next() } }
    }
}
