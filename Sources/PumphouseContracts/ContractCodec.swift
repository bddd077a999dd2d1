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
        var writer = JSONWriter(reservingCapacity: 192 + contract.fields.count * 24)
        writer.writeRaw("{\"contract\":")
        writer.write(contract.name.rawValue)
        writer.writeRaw(",\"version\":")
        writer.write(Int64(contract.version))
        writer.writeRaw(",\"action\":")
        writer.write(contract.action.rawValue)
        writer.writeRaw(",\"key\":")
        writer.write(contract.key)
        writer.writeRaw(",\"origin\":")
        writer.write(contract.origin)
        writer.writeRaw(",\"seq\":")
        writer.write(contract.sequence)
        if let base = contract.baseVersion {
            writer.writeRaw(",\"baseVersion\":")
            writer.write(base)
        }
        writer.writeRaw(",\"eventTime\":")
        writer.write(contract.eventTime)
        if let trace = contract.traceParent {
            writer.writeRaw(",\"traceparent\":")
            writer.write(trace)
        }
        do {
            if !contract.fields.isEmpty {
                writer.writeRaw(",\"fields\":")
                try writer.write(contract.fields)
            }
            if !contract.deltas.isEmpty {
                writer.writeRaw(",\"deltas\":")
                try writer.write(contract.deltas)
            }
        } catch {
            throw ContractError.invalidJSON(error)
        }
        writer.writeRaw("}")
        guard writer.bytes.count <= maxBytes else {
            throw ContractError.oversize(bytes: writer.bytes.count, limit: maxBytes)
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(6)
        headers.append((Header.contract, contract.name.rawValue))
        headers.append((Header.version, String(contract.version)))
        headers.append((Header.action, contract.action.rawValue))
        headers.append((Header.origin, contract.origin))
        headers.append((Header.sequence, String(contract.sequence)))
        if let trace = contract.traceParent { headers.append((Header.traceParent, trace)) }
        return EncodedContract(key: contract.key, value: writer.bytes, headers: headers)
    }

    /// Decodes and checks the envelope. Schema checks (known contract, known version,
    /// valid payload) are the registry's, which knows the schemas.
    public func decode(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8]?)] = []) throws(ContractError) -> Contract {
        guard let value else { throw ContractError.invalidEnvelope(member: "body", problem: "the message has no value (a tombstone is not a contract)") }
        guard value.count <= maxBytes else { throw ContractError.oversize(bytes: value.count, limit: maxBytes) }
        let root: JSONValue
        do {
            root = try JSONParser(maxBytes: maxBytes).parse(value)
        } catch {
            throw ContractError.invalidJSON(error)
        }
        guard case .object(let body) = root else {
            throw ContractError.invalidEnvelope(member: "body", problem: "must be a JSON object, not \(root.typeName)")
        }
        let contract = try Self.contract(from: body)
        guard let key, key.elementsEqual(contract.key.utf8) else {
            throw ContractError.keyMismatch(messageKey: key.map { String(decoding: $0, as: UTF8.self) }, contractKey: contract.key)
        }
        try Self.checkHeaders(headers, against: contract)
        return contract
    }

    static func contract(from body: JSONObject) throws(ContractError) -> Contract {
        var name: String?, version: Int64?, action: String?, key: String?, origin: String?
        var sequence: Int64?, baseVersion: Int64?, eventTime: Int64?, trace: String?
        var fields = JSONObject(), deltas = JSONObject()
        func string(_ member: JSONObject.Member) throws(ContractError) -> String {
            guard case .string(let s) = member.value else {
                throw ContractError.invalidEnvelope(member: member.name, problem: "must be a string, not \(member.value.typeName)")
            }
            return s
        }
        func integer(_ member: JSONObject.Member) throws(ContractError) -> Int64 {
            guard case .int(let i) = member.value else {
                throw ContractError.invalidEnvelope(member: member.name, problem: "must be an integer, not \(member.value.typeName)")
            }
            return i
        }
        func object(_ member: JSONObject.Member) throws(ContractError) -> JSONObject {
            guard case .object(let o) = member.value else {
                throw ContractError.invalidEnvelope(member: member.name, problem: "must be an object, not \(member.value.typeName)")
            }
            return o
        }
        for member in body {
            // Dispatch by length and first byte, then one comparison: a `switch` over
            // eleven string literals costs more than parsing the member.
            switch EnvelopeMember(member.name) {
            case .contract: name = try string(member)
            case .version: version = try integer(member)
            case .action: action = try string(member)
            case .key: key = try string(member)
            case .origin: origin = try string(member)
            case .seq: sequence = try integer(member)
            case .baseVersion: baseVersion = try integer(member)
            case .eventTime: eventTime = try integer(member)
            case .traceparent: trace = try string(member)
            case .fields: fields = try object(member)
            case .deltas: deltas = try object(member)
            case nil:
                throw ContractError.invalidEnvelope(member: member.name, problem: "is not an envelope member; entity fields belong under \"fields\"")
            }
        }
        func required<T>(_ value: T?, _ member: String) throws(ContractError) -> T {
            guard let value else { throw ContractError.invalidEnvelope(member: member, problem: "is missing") }
            return value
        }
        let actionText = try required(action, "action")
        guard let parsedAction = ContractAction(rawValue: actionText) else {
            throw ContractError.invalidEnvelope(member: "action", problem: "\"\(actionText)\" is not add, update, delete or create")
        }
        let parsedVersion = try required(version, "version")
        guard parsedVersion >= 1 && parsedVersion <= Int64(Int32.max) else {
            throw ContractError.invalidEnvelope(member: "version", problem: "must be between 1 and \(Int32.max), not \(parsedVersion)")
        }
        let contract = Contract(
            name: try ContractName(try required(name, "contract")),
            version: Int(parsedVersion),
            action: parsedAction,
            key: try required(key, "key"),
            origin: try required(origin, "origin"),
            sequence: try required(sequence, "seq"),
            baseVersion: baseVersion,
            eventTime: try required(eventTime, "eventTime"),
            traceParent: trace,
            fields: fields,
            deltas: deltas
        )
        if let (member, problem) = contract.envelopeProblem() {
            throw ContractError.invalidEnvelope(member: member, problem: problem)
        }
        return contract
    }

    static func checkHeaders(_ headers: [(name: String, value: [UInt8]?)], against contract: Contract) throws(ContractError) {
        for header in headers {
            let expected: String
            switch header.name {
            case Header.contract: expected = contract.name.rawValue
            case Header.version: expected = String(contract.version)
            case Header.action: expected = contract.action.rawValue
            case Header.origin: expected = contract.origin
            case Header.sequence: expected = String(contract.sequence)
            case Header.traceParent: expected = contract.traceParent ?? ""
            default: continue
            }
            let actual = header.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard actual.isSameBytes(as: expected) else {
                throw ContractError.headerMismatch(header: header.name, headerValue: actual, bodyValue: expected)
            }
        }
    }
}

/// The body's envelope members, recognised by length and bytes.
enum EnvelopeMember: CaseIterable {
    case contract, version, action, key, origin, seq, baseVersion, eventTime, traceparent, fields, deltas

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
        case .fields: "fields"
        case .deltas: "deltas"
        }
    }

    init?(_ name: String) {
        let candidate: EnvelopeMember? = switch (name.utf8.count, name.utf8.first) {
        case (3, UInt8(ascii: "k")): .key
        case (3, UInt8(ascii: "s")): .seq
        case (6, UInt8(ascii: "a")): .action
        case (6, UInt8(ascii: "o")): .origin
        case (6, UInt8(ascii: "f")): .fields
        case (6, UInt8(ascii: "d")): .deltas
        case (7, _): .version
        case (8, _): .contract
        case (9, _): .eventTime
        case (11, UInt8(ascii: "b")): .baseVersion
        case (11, UInt8(ascii: "t")): .traceparent
        default: nil
        }
        guard let candidate, candidate.name.isSameBytes(as: name) else { return nil }
        self = candidate
    }
}
