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

    /// `decode(key:value:headers:)` for a key and value where they lie.
    public func decode(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [(name: String, value: [UInt8]?)] = []) throws(ContractError) -> Contract {
        try withHeaderBytes(headers) { (headers) throws(ContractError) in try decode(key: key, value: value, headers: headers) }
    }

    /// Decodes where the message lies, in a Kafka client's buffers say: nothing is
    /// copied but what the contract keeps. A nil key or value is an absent one.
    public func decode(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: UnsafeBufferPointer<HeaderBytes>
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

    /// Compares each routing header present with the body, byte for byte, without
    /// making a String of either unless they differ (a consumer checks every message).
    static func checkHeaders(_ headers: UnsafeBufferPointer<HeaderBytes>, against contract: Contract) throws(ContractError) {
        for header in headers {
            // Names by their bytes, as Kafka tells headers apart: a Swift `switch` on the
            // name would also take a canonically equivalent spelling for one of these.
            let name = header.name
            let text: String?, number: Int64?
            if hasBytes(name, of: Header.contract) { (text, number) = (contract.name.rawValue, nil) }
            else if hasBytes(name, of: Header.version) { (text, number) = (nil, Int64(contract.version)) }
            else if hasBytes(name, of: Header.action) { (text, number) = (contract.action.rawValue, nil) }
            else if hasBytes(name, of: Header.origin) { (text, number) = (contract.origin, nil) }
            else if hasBytes(name, of: Header.sequence) { (text, number) = (nil, contract.sequence) }
            else if hasBytes(name, of: Header.traceParent) { (text, number) = (contract.traceParent ?? "", nil) }
            else { continue }
            // No value is empty text, and never a number.
            let value = header.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let agrees = if let text { hasBytes(value, of: text) } else { hasDecimal(value, number!) }
            guard agrees else {
                throw ContractError.headerMismatch(
                    header: String(decoding: name, as: UTF8.self), headerValue: String(decoding: value, as: UTF8.self), bodyValue: text ?? String(number!)
                )
            }
        }
    }

    /// Whether `bytes` are exactly the text's UTF-8.
    static func hasBytes(_ bytes: UnsafeRawBufferPointer, of text: String) -> Bool {
        var text = text
        return text.withUTF8 { equalBytes(bytes, UnsafeRawBufferPointer($0)) }
    }

    /// Whether a header's value is exactly `number` as `String(number)` spells it.
    static func hasDecimal(_ value: UnsafeRawBufferPointer, _ number: Int64) -> Bool {
        decimal(value) == number
    }

    /// The number a header's value spells exactly as `String(number)` would: no sign but
    /// a minus, no leading zero, nothing around it; nil for anything else.
    static func decimal(_ value: UnsafeRawBufferPointer) -> Int64? {
        guard !value.isEmpty, value.count <= 20 else { return nil }
        let negative = value[0] == UInt8(ascii: "-")
        let digits = value[(negative ? 1 : 0)...]
        guard let first = digits.first, first != UInt8(ascii: "0") || digits.count == 1 else { return nil }
        // Built negative, so Int64.min fits.
        var total: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = total.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            total = next
        }
        if negative { return total != 0 ? total : nil }
        return total != Int64.min ? -total : nil
    }

    /// The sequence in a record's routing headers when its origin header is exactly
    /// `origin`'s bytes, each header present once and as this codec writes it; nil
    /// otherwise. A unit knows its own changes coming back by this, without decoding
    /// them: whatever it is not sure of, it decodes.
    package static func sequence(in headers: UnsafeBufferPointer<HeaderBytes>, ifOrigin origin: String) -> Int64? {
        var sequence: Int64?
        var originSeen = false
        for header in headers {
            if hasBytes(header.name, of: Header.origin) {
                guard !originSeen, let value = header.value, hasBytes(value, of: origin) else { return nil }
                originSeen = true
            } else if hasBytes(header.name, of: Header.sequence) {
                guard sequence == nil, let value = header.value, let number = decimal(value) else { return nil }
                sequence = number
            }
        }
        return originSeen ? sequence : nil
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
