/// A contract as Kafka carries it: the entity key as message key, the JSON body as
/// value, and the routing fields repeated as headers.
///
/// Key and header values are text by definition (their UTF-8 bytes go on the wire), and
/// as Strings they share the contract's storage instead of costing one buffer each.
public struct EncodedContract: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    public var headers: [(name: String, value: String)]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.key.isSameBytes(as: rhs.key) && lhs.value == rhs.value
            && lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.name.isSameBytes(as: $1.name) && $0.value.isSameBytes(as: $1.value) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ExactKey(key))
        hasher.combine(value)
    }
}

/// The contract wire format (docs/contracts.md). The body alone is authoritative, so a
/// message whose headers were stripped by some hop still decodes; headers that are
/// present must agree with it.
public struct ContractCodec: Sendable {
    /// Header names. Consumers route on these without decoding the body.
    public enum Header {
        public static let contract = "ph-contract"
        public static let version = "ph-version"
        public static let action = "ph-action"
        public static let origin = "ph-origin"
        public static let sequence = "ph-seq"
        public static let traceParent = "traceparent"
    }

    /// Largest body accepted, in bytes.
    public var maxBytes: Int

    public init(maxBytes: Int = 1 << 20) {
        self.maxBytes = maxBytes
    }

    public func encode(_ contract: Contract) throws(ContractError) -> EncodedContract {
        if let (member, problem) = contract.envelopeProblem() {
            throw ContractError.invalidEnvelope(member: member, problem: problem)
        }
        let value = try Self.body(of: contract, maxBytes: maxBytes)
        let smallStrings = SmallASCII.layoutHolds
        // One literal, which allocates once and stores without checks; a contract
        // without a trace has no trace header.
        var headers: [(name: String, value: String)] = [
            (Header.contract, contract.name.rawValue),
            (Header.version, SmallASCII.decimal(Int64(contract.version), layoutHolds: smallStrings)),
            (Header.action, contract.action.rawValue),
            (Header.origin, contract.origin),
            (Header.sequence, SmallASCII.decimal(contract.sequence, layoutHolds: smallStrings)),
            (Header.traceParent, contract.traceParent ?? ""),
        ]
        if contract.traceParent == nil { headers.removeLast() }
        return EncodedContract(key: contract.key, value: value, headers: headers)
    }

    /// Decodes and checks the envelope. Schema checks (known contract, known version,
    /// valid payload) are the registry's, which knows the schemas.
    public func decode(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8]?)] = []) throws(ContractError) -> Contract {
        try withBytes(of: value) { (value) throws(ContractError) in
            try withBytes(of: key) { (key) throws(ContractError) in try decode(key: key, value: value, headers: headers) }
        }
    }

    /// Decodes where the message lies, in a Kafka client's buffers say: nothing is
    /// copied but what the contract keeps. A nil key or value is an absent one.
    public func decode(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [(name: String, value: [UInt8]?)] = []
    ) throws(ContractError) -> Contract {
        guard let value else { throw ContractError.invalidEnvelope(member: "body", problem: "the message has no value (a tombstone is not a contract)") }
        guard value.count <= maxBytes else { throw ContractError.oversize(bytes: value.count, limit: maxBytes) }
        let contract = try Self.contract(parsing: value)
        guard let key, Self.hasKey(contract, key) else {
            throw ContractError.keyMismatch(messageKey: key.map { String(decoding: $0, as: UTF8.self) }, contractKey: contract.key)
        }
        try Self.checkHeaders(headers, against: contract)
        return contract
    }

    static func checkHeaders(_ headers: [(name: String, value: [UInt8]?)], against contract: Contract) throws(ContractError) {
        for header in headers {
            // Names by their bytes, as Kafka tells headers apart: a Swift `switch` on the
            // name would also take a canonically equivalent spelling for one of these.
            let name = header.name
            let expected: String
            if name.isSameBytes(as: Header.contract) { expected = contract.name.rawValue }
            else if name.isSameBytes(as: Header.version) { expected = String(contract.version) }
            else if name.isSameBytes(as: Header.action) { expected = contract.action.rawValue }
            else if name.isSameBytes(as: Header.origin) { expected = contract.origin }
            else if name.isSameBytes(as: Header.sequence) { expected = String(contract.sequence) }
            else if name.isSameBytes(as: Header.traceParent) { expected = contract.traceParent ?? "" }
            else { continue }
            let actual = header.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard actual.isSameBytes(as: expected) else {
                throw ContractError.headerMismatch(header: header.name, headerValue: actual, bodyValue: expected)
            }
        }
    }
}

/// The body's envelope members, recognised by length and bytes.
enum EnvelopeMember: CaseIterable {
    case contract, version, action, key, origin, seq, baseVersion, eventTime, traceparent, ownershipTerm, incarnation, fields, deltas

    var name: String {
        switch self {
        case .contract: "contract"
        case .version: "version"
        case .action: "action"
        case .key: "key"
        case .origin: "origin"
        case .seq: "seq"
        case .baseVersion: "baseVersion"
        case .eventTime: "eventTime"
        case .traceparent: "traceparent"
        case .ownershipTerm: "ownershipTerm"
        case .incarnation: "incarnation"
        case .fields: "fields"
        case .deltas: "deltas"
        }
    }
}
