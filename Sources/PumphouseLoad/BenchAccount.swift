import PumphouseContracts
import PumphouseUnit

/// The synthetic bench.Account entity as application code declares it, for load,
/// benchmarks and fault tests. It converts its fields by hand, the fast path a
/// latency-sensitive application would take (`CodableCacheEntity` is the short one).
package struct BenchAccount: CacheEntity, Hashable {
    package static let contract = try! ContractName("bench.Account")
    package var id: String
    package var owner: String
    package var balance: Int64
    package var currency: String
    package var status: String
    package var updatedAt: Int64
    package var key: String { id }

    package init(id: String, balance: Int64, owner: String? = nil, currency: String = "EUR", status: String = "open", updatedAt: Int64 = 1_763_700_000_000) {
        self.id = id
        self.owner = owner ?? "owner-\(id)"
        self.balance = balance
        self.currency = currency
        self.status = status
        self.updatedAt = updatedAt
    }

    package var fields: JSONObject {
        [
            "id": .string(id), "owner": .string(owner), "balance": .int(balance),
            "currency": .string(currency), "status": .string(status), "updatedAt": .int(updatedAt),
        ]
    }

    package struct Malformed: Error, CustomStringConvertible {
        package let description: String
    }

    /// Field by field, as `init(fields:)` would read the merged fields: a name compared by
    /// its bytes, a field of the wrong type or a delta that leaves an integer refused,
    /// other names ignored.
    package mutating func apply(fields: JSONObject, deltas: JSONObject) throws {
        for member in fields {
            switch (member.name, member.value) {
            case let (name, .string(text)) where name.isSameBytes(as: "id"): id = text
            case let (name, .string(text)) where name.isSameBytes(as: "owner"): owner = text
            case let (name, .string(text)) where name.isSameBytes(as: "currency"): currency = text
            case let (name, .string(text)) where name.isSameBytes(as: "status"): status = text
            case let (name, .int(number)) where name.isSameBytes(as: "balance"): balance = number
            case let (name, .int(number)) where name.isSameBytes(as: "updatedAt"): updatedAt = number
            case let (name, _) where ["id", "owner", "currency", "status", "balance", "updatedAt"].contains(where: { name.isSameBytes(as: $0) }):
                throw Malformed(description: "bench.Account field \(name) has the wrong type")
            default:
                continue
            }
        }
        for delta in deltas {
            func added(_ base: Int64) throws -> Int64 {
                guard case .int(let amount) = delta.value else { throw Malformed(description: "bench.Account field \(delta.name) would no longer be an integer") }
                let (sum, overflow) = base.addingReportingOverflow(amount)
                guard !overflow else { throw Malformed(description: "bench.Account field \(delta.name) would no longer be an integer") }
                return sum
            }
            if delta.name.isSameBytes(as: "balance") {
                balance = try added(balance)
            } else if delta.name.isSameBytes(as: "updatedAt") {
                updatedAt = try added(updatedAt)
            } else if ["id", "owner", "currency", "status"].contains(where: { delta.name.isSameBytes(as: $0) }) {
                throw Malformed(description: "bench.Account field \(delta.name) would no longer be a string")
            }
        }
    }

    package init(fields: JSONObject) throws {
        func text(_ name: String) throws -> String {
            guard case .string(let value)? = fields[name] else { throw Malformed(description: "bench.Account field \(name) is missing or not a string") }
            return value
        }
        func integer(_ name: String) throws -> Int64 {
            guard case .int(let value)? = fields[name] else { throw Malformed(description: "bench.Account field \(name) is missing or not an integer") }
            return value
        }
        self.init(
            id: try text("id"), balance: try integer("balance"), owner: try text("owner"),
            currency: try text("currency"), status: try text("status"), updatedAt: try integer("updatedAt")
        )
    }
}

/// bench.Account as a Codable type whose conversion `@CacheFields` writes: the way the
/// project's own entities are declared, measured against `BenchAccount` (the hand-written
/// conversion) by the unit benchmarks.
@CacheFields
package struct BenchCodableAccount: CodableCacheEntity, Hashable {
    package static let contract = BenchAccount.contract
    package var id: String
    package var owner: String
    package var balance: Int64
    package var currency: String
    package var status: String
    package var updatedAt: Int64
    package var key: String { id }

    package init(id: String, balance: Int64, owner: String? = nil, currency: String = "EUR", status: String = "open", updatedAt: Int64 = 1_763_700_000_000) {
        self.id = id
        self.owner = owner ?? "owner-\(id)"
        self.balance = balance
        self.currency = currency
        self.status = status
        self.updatedAt = updatedAt
    }
}

/// bench.Account as a plain `CodableCacheEntity`, converted by its `Codable` conformance
/// through `CodableFields`: what an entity costs without `@CacheFields`.
package struct BenchCodableDefaultAccount: CodableCacheEntity, Hashable {
    package static let contract = BenchAccount.contract
    package var id: String
    package var owner: String
    package var balance: Int64
    package var currency: String
    package var status: String
    package var updatedAt: Int64
    package var key: String { id }

    package init(id: String, balance: Int64, owner: String? = nil, currency: String = "EUR", status: String = "open", updatedAt: Int64 = 1_763_700_000_000) {
        self.id = id
        self.owner = owner ?? "owner-\(id)"
        self.balance = balance
        self.currency = currency
        self.status = status
        self.updatedAt = updatedAt
    }
}
