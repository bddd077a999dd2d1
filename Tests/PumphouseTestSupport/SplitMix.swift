import PumphouseLoad

/// The project's seeded generator under the name the tests use.
public typealias SplitMix = SeededRandomGenerator

extension SeededRandomGenerator {
    public init(state: UInt64) {
        self.init(seed: state)
    }
}
