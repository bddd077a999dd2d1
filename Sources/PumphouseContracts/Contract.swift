/// One change to one entity of a named cache: the message every data pump carries.
///
/// `sequence` is strictly increasing per `origin` across restarts, so (origin, sequence)
/// identifies a change wherever it travels and a writer can collapse duplicates.
/// `baseVersion` is the entity version the change was made against; a replica that holds
/// a different version has seen a concurrent change (a collision).
///
/// Two contracts are equal only if their texts have the same bytes (``ExactKey``).
public struct Contract: Sendable, Hashable {
    public var name: ContractName
    /// Schema version of `fields`.
    public var version: Int
    public var action: ContractAction
    /// The entity key; also the Kafka message key, which keeps one entity in one
    /// partition and so in order.
    public var key: String
    /// The processing-unit instance that made the change.
    public var origin: String
    public var sequence: Int64
    /// The entity version the change was made against; nil for an add of a new entity.
    public var baseVersion: Int64?
    /// Milliseconds since the Unix epoch when the unit made the change.
    public var eventTime: Int64
    /// W3C `traceparent`, so a change can be followed from request to row.
    public var traceParent: String?
    /// In a partitioned cache, the ownership term of the partition under which the owning
    /// unit decided this change: every consumer applies it only while that term, claimed
    /// by `origin`, is the partition's latest claim in log order. nil in replicated caches.
    /// Not the writer's fencing epoch, which fences writer instances, not units.
    public var ownershipTerm: Int64?
    /// The first sequence number the origin's run that made this change gave out: a
    /// processing unit numbers each partition's changes from it without a hole, so a
    /// consumer that sees a higher number than the next one knows changes are missing,
    /// and one that sees a new incarnation knows the jump is a restart, not a loss. nil
    /// from producers that do not number that way (their sequences are only checked for
    /// duplicates).
    public var incarnation: Int64?
    /// add: the full state; update: only the changed fields; delete: empty.
    public var fields: JSONObject
    /// update only: numeric fields to change by an amount (`sold: +1`) rather than set,
    /// so concurrent increments from different units never overwrite each other.
    public var deltas: JSONObject

    public init(
        name: ContractName, version: Int, action: ContractAction, key: String, origin: String,
        sequence: Int64, baseVersion: Int64? = nil, eventTime: Int64, traceParent: String? = nil,
        ownershipTerm: Int64? = nil, incarnation: Int64? = nil, fields: JSONObject = JSONObject(), deltas: JSONObject = JSONObject()
    ) {
        self.name = name
        self.version = version
        self.action = action
        self.key = key
        self.origin = origin
        self.sequence = sequence
        self.baseVersion = baseVersion
        self.eventTime = eventTime
        self.traceParent = traceParent
        self.ownershipTerm = ownershipTerm
        self.incarnation = incarnation
        self.fields = fields
        self.deltas = deltas
    }

    /// The entity's identity: the key's bytes, as Kafka and PostgreSQL see it.
    public var exactKey: ExactKey { ExactKey(key) }

    /// The origin's identity: its bytes, which key the per-origin sequence ledgers.
    public var exactOrigin: ExactKey { ExactKey(origin) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.version == rhs.version && lhs.action == rhs.action
            && lhs.exactKey == rhs.exactKey && lhs.exactOrigin == rhs.exactOrigin && lhs.sequence == rhs.sequence
            && lhs.baseVersion == rhs.baseVersion && lhs.eventTime == rhs.eventTime
            && lhs.traceParent.map { ExactKey($0) } == rhs.traceParent.map { ExactKey($0) } && lhs.ownershipTerm == rhs.ownershipTerm
            && lhs.incarnation == rhs.incarnation && lhs.fields == rhs.fields && lhs.deltas == rhs.deltas
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(exactKey)
        hasher.combine(exactOrigin)
        hasher.combine(sequence)
    }

    /// The longest origin, in bytes of UTF-8: a unit's id names its spool directory (at
    /// most 255 bytes on the usual file systems), and writers keep every origin in a
    /// primary key, whose index refuses rows of a few kilobytes.
    package static let maxOriginBytes = 255

    /// Why `origin` cannot name a unit, if it cannot: empty, too long, or holding a
    /// control character (PostgreSQL text cannot hold U+0000; a writer stores every
    /// origin in its ledger, so such an origin would stop it, not dead-letter the change).
    package static func originProblem(_ origin: String) -> String? {
        if origin.isEmpty { return "must not be empty" }
        let bytes = origin.utf8.count
        if bytes > maxOriginBytes { return "must be at most \(maxOriginBytes) bytes of UTF-8, not \(bytes)" }
        var text = origin
        // Over the contiguous bytes: every contract is checked on encoding and decoding,
        // and `utf8.contains(where:)` took 3% of a decode.
        let control = text.withUTF8 { bytes in bytes.contains { $0 < 0x20 || $0 == 0x7F } }
        if control { return "must not contain a control character (U+0000 to U+001F, or U+007F)" }
        return nil
    }

    /// The rules of the envelope itself, independent of any schema.
    package func envelopeProblem() -> (member: String, problem: String)? {
        if version < 1 || version > Int(Int32.max) { return ("version", "must be between 1 and \(Int32.max), not \(version)") }
        if key.isEmpty { return ("key", "must not be empty") }
        if let problem = Self.originProblem(origin) { return ("origin", problem) }
        if sequence < 0 { return ("seq", "must not be negative, not \(sequence)") }
        if let term = ownershipTerm, term < 1 { return ("ownershipTerm", "must be at least 1, not \(term)") }
        if let incarnation, incarnation < 0 || incarnation > sequence {
            return ("incarnation", "must be between 0 and seq (\(sequence)): the run's first sequence number, not \(incarnation)")
        }
        switch action {
        case .add, .create:
            if !deltas.isEmpty { return ("deltas", "an \(action) carries full state, not deltas") }
        case .update:
            if fields.isEmpty && deltas.isEmpty { return ("fields", "an update must change at least one field or delta") }
        case .delete:
            if !fields.isEmpty || !deltas.isEmpty { return ("fields", "a delete carries no fields or deltas") }
        }
        if let bad = deltas.first(where: { $0.value.numberValue == nil }) {
            return ("deltas", "delta \"\(bad.name)\" must be a number, not \(bad.value.typeName)")
        }
        if let both = deltas.first(where: { fields.contains(name: $0.name) }) {
            return ("deltas", "field \"\(both.name)\" is both set and changed by a delta")
        }
        return nil
    }
}

/// What a contract does to its entity.
public enum ContractAction: String, Sendable, Hashable, CaseIterable {
    case add
    case update
    case delete
    /// An add that only takes effect if the entity does not exist when it is applied:
    /// of two creates of one key, the first in log order wins on every replica and in
    /// the database, and the second changes nothing. It is how a unit claims something
    /// (a seat's sale) without a lock: it publishes the claim and learns from the log
    /// whether it won.
    case create

    /// An add or a create: the contract carries the entity's whole state.
    package var carriesFullState: Bool { self == .add || self == .create }
}

/// A contract's name: lower-case domain segments and an UpperCamel entity, e.g.
/// `ticketing.Seat`. It names the schema folder, the metrics and the default topic.
public struct ContractName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init(_ text: String) throws(ContractError) {
        guard let problem = Self.problem(text) else {
            self.rawValue = text
            return
        }
        throw ContractError.invalidEnvelope(member: "contract", problem: problem)
    }

    public var description: String { rawValue }
    public var domain: Substring { rawValue[..<rawValue.lastIndex(of: ".")!] }
    public var entity: Substring { rawValue[rawValue.index(after: rawValue.lastIndex(of: ".")!)...] }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Checked on bytes: Character-level checks cost more than decoding the rest of
    /// the message, and names are ASCII by rule.
    static func problem(_ text: String) -> String? {
        var bytes = text
        return bytes.withUTF8 { problem(text, utf8: $0) }
    }

    private static func problem(_ text: String, utf8: UnsafeBufferPointer<UInt8>) -> String? {
        let rule = "use lower-case domain segments and an UpperCamel entity, e.g. \"ticketing.Seat\""
        guard utf8.count <= 200, let lastDot = utf8.lastIndex(of: UInt8(ascii: ".")) else {
            return "\"\(text)\" is not a contract name: \(rule)"
        }
        func isLower(_ b: UInt8) -> Bool { b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
        func isUpper(_ b: UInt8) -> Bool { b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var segmentStart = 0
        for index in 0...lastDot {
            let byte = utf8[index]
            if byte == UInt8(ascii: ".") {
                guard index > segmentStart, isLower(utf8[segmentStart]) else {
                    return "\"\(text)\" has an invalid domain segment \"\(String(decoding: utf8[segmentStart..<index], as: UTF8.self))\": \(rule)"
                }
                segmentStart = index + 1
            } else if !(isLower(byte) || isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")) {
                return "\"\(text)\" has an invalid domain segment containing \"\(Character(Unicode.Scalar(byte)))\": \(rule)"
            }
        }
        let entity = utf8[(lastDot + 1)...]
        guard let first = entity.first, isUpper(first), entity.allSatisfy({ isUpper($0) || isLower($0) || isDigit($0) }) else {
            return "\"\(text)\" has an invalid entity \"\(String(decoding: entity, as: UTF8.self))\": \(rule)"
        }
        return nil
    }
}
