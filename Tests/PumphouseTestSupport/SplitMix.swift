import PumphouseContracts

/// The project's seeded generator under the name the tests use.
package typealias SplitMix = SeededRandomGenerator

extension SeededRandomGenerator {
    package init(state: UInt64) {
        self.init(seed: state)
    }
}
