import PumphouseContracts
import PumphouseTestSupport

/// Contracts and JSON values built from a seed: a failing property names a seed that
/// rebuilds its input.
enum RandomContracts {
    static let alphabet: [Character] = Array("abcXYZ019 _-\"\\/\n\t\u{0}\u{1F}é✓𝄞;'") + ["\r\n"]

    /// What an origin may hold: no control character (``Contract/originProblem(_:)``).
    static let originAlphabet = alphabet.filter { !$0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }

    static func string(_ rng: inout SplitMix, maxLength: Int = 12, from letters: [Character] = alphabet) -> String {
        String((0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
    }

    static func json(_ rng: inout SplitMix, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0...(depth > 2 ? 4 : 6), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64.random(in: .min ... .max, using: &rng))
        case 3: return .double(Double.random(in: -1e12...1e12, using: &rng))
        case 4: return .string(string(&rng))
        case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in json(&rng, depth: depth + 1) })
        default: return .object(object(&rng, depth: depth + 1))
        }
    }

    static func object(_ rng: inout SplitMix, depth: Int = 0, count: ClosedRange<Int> = 0...5) -> JSONObject {
        var object = JSONObject()
        for index in 0..<Int.random(in: count, using: &rng) {
            object["f\(index)_\(string(&rng, maxLength: 4))"] = json(&rng, depth: depth)
        }
        return object
    }

    static func contract(seed: UInt64) -> Contract {
        var rng = SplitMix(state: seed)
        let action = ContractAction.allCases.randomElement(using: &rng)!
        var fields = JSONObject()
        var deltas = JSONObject()
        switch action {
        case .add, .create: fields = object(&rng, count: 0...8)
        case .update:
            fields = object(&rng, count: 1...4)
            if Bool.random(using: &rng) { deltas["delta_\(Int.random(in: 0...9, using: &rng))"] = .int(Int64.random(in: -1000...1000, using: &rng)) }
        case .delete: break
        }
        let key = string(&rng, maxLength: 20)
        var contract = Contract(
            name: try! ContractName(["bench.Account", "ticketing.Seat", "a.b.c.Entity9"].randomElement(using: &rng)!),
            version: Int.random(in: 1...9, using: &rng),
            action: action,
            key: key.isEmpty ? "k" : key,
            origin: "unit-" + string(&rng, maxLength: 6, from: originAlphabet),
            sequence: Int64.random(in: 0 ... .max, using: &rng),
            baseVersion: Bool.random(using: &rng) ? Int64.random(in: 0...1_000_000, using: &rng) : nil,
            eventTime: Int64.random(in: 0...4_000_000_000_000, using: &rng),
            traceParent: Bool.random(using: &rng) ? "00-\(String(repeating: "a", count: 32))-\(String(repeating: "b", count: 16))-01" : nil,
            fields: fields,
            deltas: deltas
        )
        // Drawn last, so the draws before it make the contracts they always made.
        if Bool.random(using: &rng) { contract.incarnation = Int64.random(in: 0...contract.sequence, using: &rng) }
        return contract
    }
}
