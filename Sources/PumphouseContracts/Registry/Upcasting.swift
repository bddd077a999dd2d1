/// How one schema version's fields become the next version's, declared in contract.yaml.
public struct UpcastStep: Sendable, Hashable {
    /// What a widened field becomes.
    public enum Widening: String, Sendable, Hashable, CaseIterable {
        /// integer to number: same JSON, wider type.
        case number
        /// number, integer or boolean written as its JSON text.
        case string
        /// a single value becomes a one-element array.
        case array
    }

    public var fromVersion: Int
    /// old name → new name. Field names are keyed by their bytes, as the payload's
    /// member names are compared.
    public var rename: [ExactKey: String]
    /// Values for fields the new version adds; applied to `add` contracts (full state)
    /// only, since an `update` carries only what changed.
    public var defaults: [ExactKey: JSONValue]
    public var widen: [ExactKey: Widening]

    public init(fromVersion: Int, rename: [ExactKey: String] = [:], defaults: [ExactKey: JSONValue] = [:], widen: [ExactKey: Widening] = [:]) {
        self.fromVersion = fromVersion
        self.rename = rename
        self.defaults = defaults
        self.widen = widen
    }

    static func parse(_ value: JSONValue, file: String, pointer: String) throws(ContractDefinitionError) -> UpcastStep {
        func fail(_ at: String, _ message: String) -> ContractDefinitionError {
            ContractDefinitionError(file: file, pointer: pointer + at, message: message)
        }
        guard case .object(let object) = value else { throw fail("", "must be a mapping with \"from\"") }
        let allowed: Set<String> = ["from", "rename", "defaults", "widen"]
        if let unknown = object.first(where: { !allowed.contains($0.name) }) {
            throw fail("/\(unknown.name)", "unknown key \"\(unknown.name)\"; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        guard case .int(let from)? = object["from"], from >= 1 else {
            throw fail("/from", "required: the version this step starts from (1 for v1 -> v2)")
        }
        var step = UpcastStep(fromVersion: Int(from))
        func mapping(_ key: String) throws(ContractDefinitionError) -> JSONObject {
            guard let value = object[key] else { return JSONObject() }
            guard case .object(let entries) = value else { throw fail("/\(key)", "must be a mapping") }
            return entries
        }
        for entry in try mapping("rename") {
            guard case .string(let to) = entry.value, !to.isEmpty else { throw fail("/rename/\(entry.name)", "must name the new field") }
            step.rename[ExactKey(entry.name)] = to
        }
        for entry in try mapping("defaults") { step.defaults[ExactKey(entry.name)] = entry.value }
        for entry in try mapping("widen") {
            guard case .string(let text) = entry.value, let widening = Widening(rawValue: text) else {
                throw fail("/widen/\(entry.name)", "must be one of \(Widening.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            step.widen[ExactKey(entry.name)] = widening
        }
        return step
    }

    /// Applies the step to a contract's fields and deltas.
    func apply(to contract: inout Contract) throws(ContractError) {
        func renamed(_ object: JSONObject) -> JSONObject {
            guard !rename.isEmpty else { return object }
            return JSONObject(object.map { JSONObject.Member(name: rename[ExactKey($0.name)] ?? $0.name, value: $0.value) })
        }
        contract.fields = renamed(contract.fields)
        contract.deltas = renamed(contract.deltas)
        for (field, widening) in widen {
            guard let value = contract.fields[field.text] else { continue }
            contract.fields[field.text] = try Self.widen(value, to: widening, contract: contract, field: field.text, from: fromVersion)
        }
        if contract.action.carriesFullState {
            for (field, value) in defaults.sorted(by: { $0.key < $1.key }) where !contract.fields.contains(name: field.text) {
                contract.fields[field.text] = value
            }
        }
    }

    static func widen(_ value: JSONValue, to widening: Widening, contract: Contract, field: String, from: Int) throws(ContractError) -> JSONValue {
        switch (widening, value) {
        case (_, .null): return .null
        case (.number, .int), (.number, .double): return value
        case (.string, .string): return value
        case (.string, .int(let i)): return .string(String(i))
        case (.string, .double(let d)): return .string(String(d))
        case (.string, .bool(let b)): return .string(b ? "true" : "false")
        case (.array, .array): return value
        case (.array, _): return .array([value])
        default:
            throw ContractError.upcastFailed(contract: contract.name.rawValue, fromVersion: from, reason: "field \"\(field)\" is \(value.typeName) and cannot be widened to \(widening.rawValue)")
        }
    }
}

/// A transform that declarations cannot express, written in Swift and registered for
/// one contract and one version step. It runs after that step's declarative part.
public protocol ContractUpcaster: Sendable {
    /// Changes `contract` (at `fromVersion`) into the shape of `fromVersion + 1`.
    func upcast(_ contract: inout Contract, fromVersion: Int) throws(ContractError)
}
