/// SplitMix64: the same seed gives the same sequence on every platform and Swift
/// version, unlike the system generator, so a workload or a failing test can be rebuilt.
/// Shared by load generation and the tests (`package`): it sits here, at the bottom of
/// the module graph, so test support needs no unit to draw random numbers.
package struct SeededRandomGenerator: RandomNumberGenerator, Sendable {
    package var state: UInt64

    package init(seed: UInt64) {
        state = seed
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
