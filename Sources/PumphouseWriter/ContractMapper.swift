import PumphouseContracts
import PumphousePostgres

/// Writes one contract's changes with Swift code, for what a declarative table mapping
/// cannot say: several tables per change, derived or audit rows, a stored procedure.
///
/// The writer keeps everything that makes the pipeline exact (per-key order, folding,
/// duplicate suppression, dead letters, offsets in the same transaction); a mapper only
/// turns one entity's folded change into SQL. It returns statements instead of running
/// them so the writer can pipeline a whole batch in one round trip and run it again
/// after a transient failure: the statements must depend on the change alone.
///
/// A cache written by a mapper declares `mapping: custom` in the pipeline file, and the
/// program hosting the writer registers the mapper: `DataWriter(..., mappers: [name: mapper])`.
public protocol ContractMapper: Sendable {
    /// Statements that give `change` its effect, run in order inside the batch's
    /// transaction. Throwing dead-letters the contracts behind the change (reason
    /// `unmappable`, the error as detail); the rest of the batch proceeds. An update of a
    /// row that does not exist is the mapper's to handle: the writer counts the change
    /// as applied once its statements succeed.
    func statements(for change: EntityChange) throws -> [PostgresStatement]

    /// Checks the live database before the writer consumes anything; throwing stops
    /// start-up with the error, so it should name what is missing and how to fix it.
    func check(_ db: PostgresConnection) async throws
}

extension ContractMapper {
    public func check(_ db: PostgresConnection) async throws {}
}

/// One entity's folded change within a batch: what a custom mapper writes.
public struct EntityChange: Sendable, Hashable {
    public var contract: ContractName
    public var key: String
    public var effect: EntityEffect

    public init(contract: ContractName, key: String, effect: EntityEffect) {
        self.contract = contract
        self.key = key
        self.effect = effect
    }

    /// Keys compare by bytes, as the database compares them.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.contract == rhs.contract && ExactKey(lhs.key) == ExactKey(rhs.key) && lhs.effect == rhs.effect
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(contract)
        hasher.combine(ExactKey(key))
        hasher.combine(effect)
    }
}
