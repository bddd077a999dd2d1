import PumphouseContracts

/// A reproducible stream of bench.Account changes: the same seed gives the same keys,
/// actions and values. Each key is added before it is updated or deleted, roughly half
/// the changes are updates (status changes and balance deltas), a few are deletes and
/// re-adds, and the changes are spread over several origins, each with its own
/// strictly increasing sequence.
public struct AccountWorkload: Sendable {
    public struct Counts: Sendable, Hashable {
        public var adds = 0
        public var updates = 0
        public var deletes = 0
        public var total: Int { adds + updates + deletes }
    }

    public let contract: ContractName
    public let version: Int
    public let keys: Int
    public let origins: [String]
    public private(set) var counts = Counts()
    private var rng: SeededRandomGenerator
    private var live: [Bool]
    private var sequences: [Int64]
    private var clock: Int64 = 1_763_700_000_000

    /// `originPrefix` names the origins (`<prefix>-u0`, ...); use a new prefix per run,
    /// since a writer treats a repeated (origin, sequence) as a duplicate.
    public init(contract: ContractName, version: Int, keys: Int, origins: Int, seed: UInt64, originPrefix: String) {
        self.contract = contract
        self.version = version
        self.keys = keys
        self.origins = (0..<origins).map { "\(originPrefix)-u\($0)" }
        self.rng = SeededRandomGenerator(seed: seed)
        self.live = Array(repeating: false, count: keys)
        self.sequences = Array(repeating: 0, count: origins)
    }

    public mutating func next() -> Contract {
        let index = Int.random(in: 0..<keys, using: &rng)
        let key = "acc-\(index)"
        let originIndex = Int.random(in: 0..<origins.count, using: &rng)
        sequences[originIndex] += 1
        clock += Int64.random(in: 1...20, using: &rng)
        let roll = Int.random(in: 0..<100, using: &rng)
        let action: ContractAction
        var fields = JSONObject()
        var deltas = JSONObject()
        if !live[index] || roll < 5 {
            action = .add
            live[index] = true
            counts.adds += 1
            fields = [
                "id": .string(key),
                "owner": .string("owner-\(Int.random(in: 0..<100_000, using: &rng))"),
                "balance": .int(Int64.random(in: 0...1_000_000, using: &rng)),
                "currency": .string(["EUR", "USD", "GBP", "NOK"].randomElement(using: &rng)!),
                "status": .string("open"),
                "updatedAt": .int(clock),
            ]
        } else if roll < 8 {
            action = .delete
            live[index] = false
            counts.deletes += 1
        } else {
            action = .update
            counts.updates += 1
            if roll < 30 {
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
}

