import PumphouseTestSupport

/// Ways hostile or damaged input differs from a valid document, for the fuzz suites.
/// Each one is a small, seeded edit, so a failure names a seed that rebuilds its input
/// and the input stays close enough to valid to get past the first checks.
enum ByteMutations {
    /// Bytes that mean something to a JSON parser or to UTF-8, favoured over random ones
    /// because they move a parser into different states.
    static let interesting: [UInt8] = Array(#"{}[]",:\-0123456789.eEtfnu "#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF]

    static func byte(_ rng: inout SplitMix) -> UInt8 {
        Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0 ... .max, using: &rng)
    }

    static func random(_ rng: inout SplitMix, maxLength: Int = 256) -> [UInt8] {
        (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in byte(&rng) }
    }

    /// One to four edits: bit flips, insertions, deletions, duplicated slices and a cut.
    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let position = Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[min(position, bytes.count - 1)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1:
                bytes.insert(contentsOf: (0..<Int.random(in: 1...3, using: &rng)).map { _ in byte(&rng) }, at: position)
            case 2 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...8, using: &rng))
                bytes.removeSubrange(min(position, end)..<end)
            case 3 where !bytes.isEmpty:
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let slice = bytes[start..<min(bytes.count, start + Int.random(in: 1...24, using: &rng))]
                bytes.insert(contentsOf: slice, at: position)
            default:
                bytes = Array(bytes.prefix(position))
            }
        }
        return bytes
    }
}
