/// The body's wire form, written and read without building a JSON tree of the whole
/// body: `ContractCodec` is the public face, this is how it keeps up with a broker.
extension ContractCodec {
    /// The body, written on the stack and copied once into an array of exactly its size.
    static func body(of contract: Contract, maxBytes: Int) throws(ContractError) -> [UInt8] {
        let result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { stack in
            var out = RawJSONOutput(stack)
            defer { out.release() }
            return Result { () throws(ContractError) in
                try write(contract, to: &out)
                guard out.count <= maxBytes else {
                    throw ContractError.oversize(bytes: out.count, limit: maxBytes)
                }
                return Array(out.written)
            }
        }
        return try result.get()
    }

    static func write(_ contract: Contract, to out: inout RawJSONOutput) throws(ContractError) {
        out.emit(raw: "{\"contract\":")
        out.emit(contract.name.rawValue)
        out.emit(raw: ",\"version\":")
        out.emit(Int64(contract.version))
        out.emit(raw: ",\"action\":")
        out.emit(contract.action.rawValue)
        out.emit(raw: ",\"key\":")
        out.emit(contract.key)
        out.emit(raw: ",\"origin\":")
        out.emit(contract.origin)
        out.emit(raw: ",\"seq\":")
        out.emit(contract.sequence)
        if let base = contract.baseVersion {
            out.emit(raw: ",\"baseVersion\":")
            out.emit(base)
        }
        out.emit(raw: ",\"eventTime\":")
        out.emit(contract.eventTime)
        if let trace = contract.traceParent {
            out.emit(raw: ",\"traceparent\":")
            out.emit(trace)
        }
        if let term = contract.ownershipTerm {
            out.emit(raw: ",\"ownershipTerm\":")
            out.emit(term)
        }
        if let incarnation = contract.incarnation {
            out.emit(raw: ",\"incarnation\":")
            out.emit(incarnation)
        }
        do {
            if !contract.fields.isEmpty {
                out.emit(raw: ",\"fields\":")
                try out.emit(contract.fields)
            }
            if !contract.deltas.isEmpty {
                out.emit(raw: ",\"deltas\":")
                try out.emit(contract.deltas)
            }
        } catch {
            throw ContractError.invalidJSON(error)
        }
        out.emit(raw: "}")
    }

    /// Reads the envelope while parsing the body: member names are matched as bytes and
    /// never become Strings, and no object of the whole body is built. It fails as
    /// parsing the whole body first would: any JSON error wins over an envelope error,
    /// and of envelope errors the first member in body order is reported.
    static func contract(parsing body: UnsafeRawBufferPointer) throws(ContractError) -> Contract {
        var envelope = Envelope()
        do {
            var cursor = JSONCursor(bytes: body, maxDepth: JSONParser().maxDepth)
            cursor.skipWhitespace()
            if try cursor.peek() == UInt8(ascii: "{") {
                try envelope.read(&cursor)
            } else {
                let root = try cursor.value(depth: 0)
                envelope.problem = ("body", "must be a JSON object, not \(root.typeName)")
            }
            try cursor.end()
        } catch {
            throw ContractError.invalidJSON(error)
        }
        return try envelope.contract()
    }

    static func hasKey(_ contract: Contract, _ key: UnsafeRawBufferPointer) -> Bool {
        hasBytes(key, of: contract.key)
    }

    /// The envelope's members as read, and the first problem with them in body order.
    struct Envelope {
        var name: String?, version: Int64?, action: ContractAction?, key: String?, origin: String?
        var sequence: Int64?, baseVersion: Int64?, eventTime: Int64?, trace: String?, ownershipTerm: Int64?, incarnation: Int64?
        var fields: JSONObject?, deltas: JSONObject?
        /// An action that is none of ContractAction's, kept as text for the error.
        var unknownAction: String?
        var problem: (member: String, problem: String)?

        /// Reads the body object (the cursor is on its brace) as `JSONCursor.object`
        /// does, dispatching each member as it comes.
        mutating func read(_ cursor: inout JSONCursor) throws(JSONError) {
            guard cursor.maxDepth >= 1 else { throw cursor.fail(.tooDeep(limit: cursor.maxDepth)) }
            cursor.index += 1
            cursor.skipWhitespace()
            if try cursor.peek() == UInt8(ascii: "}") {
                cursor.index += 1
                return
            }
            // Duplicates: envelope members by a bit each, other names (an error anyway,
            // unless a JSON error comes first) by their bytes.
            var seen: UInt16 = 0
            var others = Set<[UInt8]>()
            while true {
                cursor.skipWhitespace()
                let nameOffset = cursor.index
                guard try cursor.peek() == UInt8(ascii: "\"") else { throw cursor.fail(.unexpectedByte(cursor.bytes[cursor.index])) }
                // The name as two words if it is short, as found otherwise; a String
                // only for an error.
                let small = cursor.smallStrings ? cursor.smallString() : nil
                let scanned = small == nil ? try cursor.string() : nil
                let member = if let small { EnvelopeMember(small: small) } else { cursor.withUTF8(scanned!) { EnvelopeMember(utf8: $0) } }
                func name() -> String {
                    if let member { return member.name }
                    if let small { return SmallASCII.string(low: small.low, high: small.high, count: small.count) }
                    return cursor.text(scanned!)
                }
                if let member {
                    guard seen & member.bit == 0 else { throw cursor.fail(.duplicateMember(name()), at: nameOffset) }
                    seen |= member.bit
                } else {
                    let name = name()
                    guard others.insert(Array(name.utf8)).inserted else { throw cursor.fail(.duplicateMember(name), at: nameOffset) }
                }
                cursor.skipWhitespace()
                guard try cursor.peek() == UInt8(ascii: ":") else { throw cursor.fail(.unexpectedByte(cursor.bytes[cursor.index])) }
                cursor.index += 1
                cursor.skipWhitespace()
                if let member {
                    try read(member, &cursor)
                } else {
                    let name = name()
                    _ = try cursor.value(depth: 1)
                    if problem == nil {
                        problem = (name, "is not an envelope member; entity fields belong under \"fields\"")
                    }
                }
                cursor.skipWhitespace()
                switch try cursor.peek() {
                case UInt8(ascii: ","): cursor.index += 1
                case UInt8(ascii: "}"):
                    cursor.index += 1
                    return
                case let other: throw cursor.fail(.unexpectedByte(other))
                }
            }
        }

        /// One member's value, at depth 1 as in the body object.
        mutating func read(_ member: EnvelopeMember, _ cursor: inout JSONCursor) throws(JSONError) {
            func mismatch(_ expected: String) throws(JSONError) {
                let value = try cursor.value(depth: 1)
                if problem == nil { problem = (member.name, "must be \(expected), not \(value.typeName)") }
            }
            func string() throws(JSONError) -> String? {
                guard try cursor.peek() == UInt8(ascii: "\"") else {
                    try mismatch("a string")
                    return nil
                }
                return try cursor.stringValue()
            }
            func integer() throws(JSONError) -> Int64? {
                let value = try cursor.value(depth: 1)
                guard case .int(let integer) = value else {
                    if problem == nil { problem = (member.name, "must be an integer, not \(value.typeName)") }
                    return nil
                }
                return integer
            }
            func object() throws(JSONError) -> JSONObject? {
                guard try cursor.peek() == UInt8(ascii: "{") else {
                    try mismatch("an object")
                    return nil
                }
                return try cursor.object(depth: 2)
            }
            switch member {
            case .contract: name = try string()
            case .version: version = try integer()
            case .action:
                guard try cursor.peek() == UInt8(ascii: "\"") else { return try mismatch("a string") }
                let text = try cursor.string()
                action = cursor.withUTF8(text) { ContractAction(utf8: $0) }
                if action == nil { unknownAction = cursor.text(text) }
            case .key: key = try string()
            case .origin: origin = try string()
            case .seq: sequence = try integer()
            case .baseVersion: baseVersion = try integer()
            case .eventTime: eventTime = try integer()
            case .traceparent: trace = try string()
            case .ownershipTerm: ownershipTerm = try integer()
            case .incarnation: incarnation = try integer()
            case .fields: fields = try object()
            case .deltas: deltas = try object()
            }
        }

        /// The contract, its members moved out of the envelope rather than copied.
        mutating func contract() throws(ContractError) -> Contract {
            if let problem { throw ContractError.invalidEnvelope(member: problem.member, problem: problem.problem) }
            func required<T>(_ value: T?, _ member: String) throws(ContractError) -> T {
                guard let value else { throw ContractError.invalidEnvelope(member: member, problem: "is missing") }
                return value
            }
            if action == nil, unknownAction == nil { throw ContractError.invalidEnvelope(member: "action", problem: "is missing") }
            guard let action else {
                throw ContractError.invalidEnvelope(member: "action", problem: "\"\(unknownAction ?? "")\" is not add, update, delete or create")
            }
            let parsedVersion = try required(version, "version")
            guard parsedVersion >= 1 && parsedVersion <= Int64(Int32.max) else {
                throw ContractError.invalidEnvelope(member: "version", problem: "must be between 1 and \(Int32.max), not \(parsedVersion)")
            }
            let contract = Contract(
                name: try ContractName(try required(name.take(), "contract")),
                version: Int(parsedVersion),
                action: action,
                key: try required(key.take(), "key"),
                origin: try required(origin.take(), "origin"),
                sequence: try required(sequence, "seq"),
                baseVersion: baseVersion,
                eventTime: try required(eventTime, "eventTime"),
                traceParent: trace.take(),
                ownershipTerm: ownershipTerm,
                incarnation: incarnation,
                fields: fields.take() ?? JSONObject(),
                deltas: deltas.take() ?? JSONObject()
            )
            if let (member, problem) = contract.envelopeProblem() {
                throw ContractError.invalidEnvelope(member: member, problem: problem)
            }
            return contract
        }
    }
}

extension EnvelopeMember {
    /// The only member a name of this length and first byte can be, as `init?(_:)`
    /// narrows it down, and its name's bytes: a StaticString, which unlike `name`
    /// costs no release once compared.
    @inline(__always)
    static func candidate(count: Int, first: UInt8?) -> (member: EnvelopeMember, utf8: StaticString)? {
        switch (count, first) {
        case (3, UInt8(ascii: "k")): (.key, "key")
        case (3, UInt8(ascii: "s")): (.seq, "seq")
        case (6, UInt8(ascii: "a")): (.action, "action")
        case (6, UInt8(ascii: "o")): (.origin, "origin")
        case (6, UInt8(ascii: "f")): (.fields, "fields")
        case (6, UInt8(ascii: "d")): (.deltas, "deltas")
        case (7, _): (.version, "version")
        case (8, _): (.contract, "contract")
        case (9, _): (.eventTime, "eventTime")
        case (11, UInt8(ascii: "b")): (.baseVersion, "baseVersion")
        case (11, UInt8(ascii: "t")): (.traceparent, "traceparent")
        case (11, UInt8(ascii: "i")): (.incarnation, "incarnation")
        case (13, _): (.ownershipTerm, "ownershipTerm")
        default: nil
        }
    }

    /// The member named by exactly these bytes.
    init?(utf8 name: UnsafeBufferPointer<UInt8>) {
        guard let candidate = Self.candidate(count: name.count, first: name.first),
              equalBytes(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer(start: candidate.utf8.utf8Start, count: candidate.utf8.utf8CodeUnitCount))
        else { return nil }
        self = candidate.member
    }

    /// The member named by these bytes, held as `SmallASCII` holds them; only where its
    /// layout holds.
    init?(small name: (low: UInt64, high: UInt64, count: Int)) {
        guard let candidate = Self.candidate(count: name.count, first: UInt8(truncatingIfNeeded: name.low))?.member,
              let expected = SmallASCII.words(of: candidate.name), expected == name
        else { return nil }
        self = candidate
    }

    /// The member's bit in a set of members seen.
    var bit: UInt16 {
        switch self {
        case .contract: 1 << 0
        case .version: 1 << 1
        case .action: 1 << 2
        case .key: 1 << 3
        case .origin: 1 << 4
        case .seq: 1 << 5
        case .baseVersion: 1 << 6
        case .eventTime: 1 << 7
        case .traceparent: 1 << 8
        case .fields: 1 << 9
        case .deltas: 1 << 10
        case .ownershipTerm: 1 << 11
        case .incarnation: 1 << 12
        }
    }
}

extension ContractAction {
    /// The action spelled by exactly these bytes.
    init?(utf8 text: UnsafeBufferPointer<UInt8>) {
        let candidate: (action: ContractAction, utf8: StaticString)? = switch text.first {
        case UInt8(ascii: "a"): (.add, "add")
        case UInt8(ascii: "u"): (.update, "update")
        case UInt8(ascii: "d"): (.delete, "delete")
        case UInt8(ascii: "c"): (.create, "create")
        default: nil
        }
        guard let candidate,
              equalBytes(UnsafeRawBufferPointer(text), UnsafeRawBufferPointer(start: candidate.utf8.utf8Start, count: candidate.utf8.utf8CodeUnitCount))
        else { return nil }
        self = candidate.action
    }
}

/// Runs `body` on the array's bytes, or on nil for no array: `withUnsafeBytes` does
/// not pass typed errors through.
func withBytes<R, E: Error>(of array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(E) -> R) throws(E) -> R {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBytes { bytes in Result { () throws(E) in try body(bytes) } }.get()
}
