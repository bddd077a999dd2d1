import PumphouseContracts

/// A reproducible stream of bench.Account changes: the same seed gives the same keys,
/// actions and values. A set share of the changes are updates (status changes and
/// balance deltas) of live keys, 3% are deletes of live keys, the rest adds (new keys,
/// or full replacements of live ones); an update or delete never targets a key that is
/// not live. The changes are spread over several origins, each with its own strictly
/// increasing sequence.
package struct AccountWorkload: Sendable {
    package struct Counts: Sendable, Hashable {
        package var adds = 0
        package var updates = 0
        package var deletes = 0
        package var total: Int { adds + updates + deletes }
    }

    package let contract: ContractName
    package let version: Int
    package let keys: Int
    package let origins: [String]
    package private(set) var counts = Counts()
    private var rng: SeededRandomGenerator
    /// Update share in percent, 0...97.
    package let updatePercent: Int
    /// Live keys, and each key's index in `liveKeys` (-1: not live), for O(1) picks.
    private var liveKeys: [Int] = []
    private var livePosition: [Int]
    private var sequences: [Int64]
    private var clock: Int64 = 1_763_700_000_000

    /// `originPrefix` names the origins (`<prefix>-u0`, ...); use a new prefix per run,
    /// since a writer treats a repeated (origin, sequence) as a duplicate.
    package init(contract: ContractName, version: Int, keys: Int, origins: Int, seed: UInt64, originPrefix: String, updatePercent: Int = 50) {
        precondition((0...97).contains(updatePercent), "updatePercent must be 0...97")
        self.updatePercent = updatePercent
        self.contract = contract
        self.version = version
        self.keys = keys
        self.origins = (0..<origins).map { "\(originPrefix)-u\($0)" }
        self.rng = SeededRandomGenerator(seed: seed)
        self.livePosition = Array(repeating: -1, count: keys)
        self.sequences = Array(repeating: 0, count: origins)
    }

    package mutating func next() -> Contract {
        let roll = Int.random(in: 0..<100, using: &rng)
        var action: ContractAction = roll < updatePercent ? .update : roll < updatePercent + 3 ? .delete : .add
        let index: Int
        if action != .add, !liveKeys.isEmpty {
            index = liveKeys[Int.random(in: 0..<liveKeys.count, using: &rng)]
        } else {
            action = .add
            index = Int.random(in: 0..<keys, using: &rng)
        }
        let key = "acc-\(index)"
        let originIndex = Int.random(in: 0..<origins.count, using: &rng)
        sequences[originIndex] += 1
        clock += Int64.random(in: 1...20, using: &rng)
        var fields = JSONObject()
        var deltas = JSONObject()
        switch action {
        case .add, .create:  // the workload draws adds only
            setLive(index, true)
            counts.adds += 1
            fields = [
                "id": .string(key),
                "owner": .string("owner-\(Int.random(in: 0..<100_000, using: &rng))"),
                "balance": .int(Int64.random(in: 0...1_000_000, using: &rng)),
                "currency": .string(["EUR", "USD", "GBP", "NOK"].randomElement(using: &rng)!),
                "status": .string("open"),
                "updatedAt": .int(clock),
            ]
        case .delete:
            setLive(index, false)
            counts.deletes += 1
        case .update:
            counts.updates += 1
            if Int.random(in: 0..<100, using: &rng) < 25 {
                fields["status"] = .string(["open", "frozen", "closed"].randomElement(using: &rng)!)
            } else {
                deltas["balance"] = .int(Int64.random(in: -5_000...5_000, using: &rng))
            }
            fields["updatedAt"] = .int(clock)
        }
        return Contract(
            name: contract, version: version, action: action, key: key, origin: origins[originIndex],
            sequence: sequences[originIndex], eventTime: clock, fields: fields, deltas: deltas
        )
    }

    private mutating func setLive(_ index: Int, _ isLive: Bool) {
        let position = livePosition[index]
        if isLive, position < 0 {
            livePosition[index] = liveKeys.count
            liveKeys.append(index)
        } else if !isLive, position >= 0 {
            let last = liveKeys.removeLast()
            if last != index {
                liveKeys[position] = last
                livePosition[last] = position
            }
            livePosition[index] = -1
        }
    }
}
