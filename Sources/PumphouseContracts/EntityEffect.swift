/// What a run of contracts for one entity does to its state, folded so that one effect
/// per key has the same result as applying each contract in log order.
///
/// The same rules serve every consumer of a data pump: a writer folds a batch into one
/// statement per key, a replica applies changes to its cache, a replay folds a topic.
public enum EntityEffect: Sendable, Hashable {
    /// Insert or replace the whole row (an add, possibly with later updates merged in).
    case upsert(JSONObject)
    /// Change some fields and add deltas to numeric ones; the row must exist.
    case update(fields: JSONObject, deltas: JSONObject)
    /// Remove the row (a delete of a missing row does nothing).
    case delete
    /// Insert `row` if there is no row; otherwise change the existing row by `fields` and
    /// `deltas` (nothing, for a lone create). A create followed by updates stays one
    /// effect this way, whichever way the create goes.
    case create(row: JSONObject, fields: JSONObject, deltas: JSONObject)

    public init(_ contract: Contract) {
        switch contract.action {
        case .add: self = .upsert(contract.fields)
        case .update: self = .update(fields: contract.fields, deltas: contract.deltas)
        case .delete: self = .delete
        case .create: self = .create(row: contract.fields, fields: JSONObject(), deltas: JSONObject())
        }
    }

    /// The effect of applying `self`, then `next`. Returns nil when `next` is an update
    /// of a row that `self` deleted: that update cannot apply, and the caller decides
    /// its fate (it is dead-lettered as an update of a missing row).
    public func then(_ next: EntityEffect) -> EntityEffect? {
        switch (self, next) {
        case (_, .upsert), (_, .delete):
            return next
        case (.delete, .update):
            return nil
        case (.delete, .create(let row, _, _)):
            return .upsert(row)
        case (.upsert(let row), .update(let fields, let deltas)), (.upsert(let row), .create(_, let fields, let deltas)):
            return .upsert(Self.merge(row, fields, deltas))
        case (.update(let fields, let deltas), .update(let moreFields, let moreDeltas)):
            let (f, d) = Self.compose(fields, deltas, then: moreFields, moreDeltas)
            return .update(fields: f, deltas: d)
        case (.update(let fields, let deltas), .create(let row, let moreFields, let moreDeltas)):
            // Row present: both updates apply. Row absent: the update changed nothing
            // (the caller decides its fate) and the create inserts.
            let (f, d) = Self.compose(fields, deltas, then: moreFields, moreDeltas)
            return .create(row: row, fields: f, deltas: d)
        case (.create(let row, let fields, let deltas), .update(let moreFields, let moreDeltas)),
             (.create(let row, let fields, let deltas), .create(_, let moreFields, let moreDeltas)):
            let (f, d) = Self.compose(fields, deltas, then: moreFields, moreDeltas)
            return .create(row: Self.merge(row, moreFields, moreDeltas), fields: f, deltas: d)
        }
    }

    /// `row` with the fields set and the deltas added.
    static func merge(_ row: JSONObject, _ fields: JSONObject, _ deltas: JSONObject) -> JSONObject {
        var row = row
        merge(into: &row, fields, deltas)
        return row
    }

    static func merge(into row: inout JSONObject, _ fields: JSONObject, _ deltas: JSONObject) {
        for member in fields { row[member.name] = member.value }
        for delta in deltas { row[delta.name] = add(row[delta.name], delta.value) }
    }

    /// One update with the effect of `fields`/`deltas` and then `moreFields`/`moreDeltas`.
    static func compose(_ fields: JSONObject, _ deltas: JSONObject, then moreFields: JSONObject, _ moreDeltas: JSONObject) -> (JSONObject, JSONObject) {
        var fields = fields, deltas = deltas
        for member in moreFields {
            fields[member.name] = member.value
            deltas[member.name] = nil  // a later set wins over an earlier delta
        }
        for delta in moreDeltas {
            if let set = fields[delta.name] {
                fields[delta.name] = add(set, delta.value)
            } else {
                deltas[delta.name] = add(deltas[delta.name], delta.value)
            }
        }
        return (fields, deltas)
    }

    /// Numeric addition that stays exact for integers. A missing or non-numeric base
    /// counts as 0 for a missing value and is otherwise left to the schema to have
    /// prevented (deltas only target declared numeric fields).
    package static func add(_ base: JSONValue?, _ delta: JSONValue) -> JSONValue {
        switch (base ?? .int(0), delta) {
        case (.int(let a), .int(let b)):
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? .double(Double(a) + Double(b)) : .int(sum)
        case (let a, let b):
            return .double((a.numberValue ?? 0) + (b.numberValue ?? 0))
        }
    }

    /// The state after this effect, applied to `state` (nil: no entity). An update of a
    /// missing entity changes nothing and is reported, so the caller can count it.
    public func applied(to state: JSONObject?) -> (state: JSONObject?, missing: Bool) {
        var state = state
        let missing = apply(to: &state)
        return (state, missing)
    }

    /// As `applied(to:)`, changing the state where it lies: given a dictionary's entry
    /// (`&rows[key]`), an update changes the row in place instead of copying it out,
    /// changing the copy and storing it back. Returns whether it was an update of a
    /// missing entity, which changes nothing.
    public func apply(to state: inout JSONObject?) -> Bool {
        switch self {
        case .upsert(let row):
            state = row
        case .delete:
            state = nil
        case .update(let fields, let deltas):
            guard state != nil else { return true }
            Self.merge(into: &state!, fields, deltas)
        case .create(let row, let fields, let deltas):
            if state == nil { state = row } else { Self.merge(into: &state!, fields, deltas) }
        }
        return false
    }
}
