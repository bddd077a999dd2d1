/// One message of a data reader's answer on a reverse-pump topic.
///
/// An answer is the rows (in messages of many rows each, ``ReverseRows``, tagged with
/// the request id), then one end marker; or a single error. Answers to different
/// requests may interleave on the topic, so a reader of the topic keeps only its
/// request's messages and trusts a load only when it has counted as many rows as the end
/// marker says.
package enum ReverseReply: Sendable {
    /// Rows, each an add contract as it travels, decoded by whoever loads them.
    case rows(request: String, ReverseRows)
    case end(ReadEnd)
    case error(request: String, reason: String)

    package enum Header {
        /// `rows`, `end` or `error`; `row` (one row, the contract's own message) from
        /// readers before ``ReverseRows``, still read so units can be upgraded first.
        package static let kind = "ph-reply"
    }

    /// The request this message answers.
    package var request: String {
        switch self {
        case .rows(let request, _): request
        case .end(let end): end.request
        case .error(let request, _): request
        }
    }

    /// The request a reverse-pump message answers, without reading its body.
    package static func request(in headers: [(name: String, value: [UInt8]?)]) -> String? {
        headers.last { $0.name.isSameBytes(as: ReadRequest.Header.request) }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The message that carries this reply, keyed by the request id.
    package var message: (key: String, value: [UInt8], headers: [(name: String, value: String)]) {
        switch self {
        case .rows(let request, let rows):
            return (request, rows.bytes, [(ReadRequest.Header.request, request), (Header.kind, "rows")])
        case .end(let end):
            return (end.request, end.value, [(ReadRequest.Header.request, end.request), (Header.kind, "end")])
        case .error(let request, let reason):
            let value = (try? JSONWriter.encode(.object(["request": .string(request), "error": .string(reason)]))) ?? []
            return (request, value, [(ReadRequest.Header.request, request), (Header.kind, "error")])
        }
    }

    /// Reads a reverse-pump message; nil for anything that is not part of an answer.
    package init?(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8]?)]) {
        guard let request = Self.request(in: headers),
              let kind = headers.last(where: { $0.name.isSameBytes(as: Header.kind) })?.value.map({ String(decoding: $0, as: UTF8.self) })
        else { return nil }
        switch kind {
        case "rows":
            guard let value, let rows = ReverseRows(bytes: value) else { return nil }
            self = .rows(request: request, rows)
        case "row":
            // The contract's own headers only repeat its body, which decoding checks.
            guard let key, let value else { return nil }
            self = .rows(request: request, ReverseRows(key: key, value: value))
        case "end":
            guard let value, let end = try? ReadEnd(value: value) else { return nil }
            self = .end(end)
        case "error":
            let reason = value.flatMap { try? JSONParser(maxBytes: 1 << 16, maxDepth: 2).parse($0) }?.objectValue?["error"]?.stringValue
            self = .error(request: request, reason: reason ?? "the reader gave no reason")
        default:
            return nil
        }
    }
}

/// The end of a load: how many rows were sent, and where the snapshot stands in the
/// cache's topic. `offsets` are the writer's next offsets per partition and `sequences`
/// the highest origin sequence it applied per partition, read in the same database
/// snapshot as the rows: a unit applies the topic from there on, skipping what the
/// writer would skip, and so ends with exactly the state the log describes. For a
/// partitioned cache, `ownership` is each partition's ownership as the writer folded it
/// to its offsets, so the unit fences the rest of the topic as the writer does.
package struct ReadEnd: Sendable, Hashable {
    package var request: String
    package var rows: Int64
    /// Partition to the next offset to apply; a partition absent here starts at the
    /// beginning of the topic (the writer has applied nothing from it).
    package var offsets: [Int32: Int64]
    /// By the origin's bytes, as the writer's ledger keeps them.
    package var sequences: [Int32: [ExactKey: Int64]]
    /// Epoch milliseconds of the snapshot.
    package var snapshotTime: Int64
    /// Partitions that have an owner (absent: no claim folded yet).
    package var ownership: [Int32: PartitionOwnership]

    package init(
        request: String, rows: Int64, offsets: [Int32: Int64], sequences: [Int32: [ExactKey: Int64]], snapshotTime: Int64,
        ownership: [Int32: PartitionOwnership] = [:]
    ) {
        self.request = request
        self.rows = rows
        self.offsets = offsets
        self.sequences = sequences
        self.snapshotTime = snapshotTime
        self.ownership = ownership.filter { $0.value.term > 0 }
    }

    package var value: [UInt8] {
        var offsetObject = JSONObject()
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) { offsetObject[String(partition)] = .int(offset) }
        var sequenceObject = JSONObject()
        for (partition, origins) in sequences.sorted(by: { $0.key < $1.key }) {
            var inner = JSONObject()
            for (origin, sequence) in origins.sorted(by: { $0.key < $1.key }) { inner[origin.text] = .int(sequence) }
            sequenceObject[String(partition)] = .object(inner)
        }
        var object: JSONObject = [
            "request": .string(request), "rows": .int(rows), "offsets": .object(offsetObject),
            "sequences": .object(sequenceObject), "snapshotTime": .int(snapshotTime),
        ]
        if !ownership.isEmpty {
            var ownershipObject = JSONObject()
            for (partition, owned) in ownership.sorted(by: { $0.key < $1.key }) {
                ownershipObject[String(partition)] = .object(["ownershipTerm": .int(owned.term), "owner": owned.owner.map(JSONValue.string) ?? .null])
            }
            object["ownership"] = .object(ownershipObject)
        }
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    package init(value: [UInt8]) throws(ReadRequestError) {
        guard case .object(let object)? = try? JSONParser(maxBytes: 16 << 20, maxDepth: 4).parse(value),
              let request = object["request"]?.stringValue, case .int(let rows)? = object["rows"],
              case .object(let offsetObject)? = object["offsets"], case .object(let sequenceObject)? = object["sequences"]
        else { throw ReadRequestError("not an end marker") }
        var offsets: [Int32: Int64] = [:]
        for member in offsetObject {
            guard let partition = Int32(member.name), case .int(let offset) = member.value else { throw ReadRequestError("bad offset in end marker") }
            offsets[partition] = offset
        }
        var sequences: [Int32: [ExactKey: Int64]] = [:]
        for member in sequenceObject {
            guard let partition = Int32(member.name), case .object(let origins) = member.value else { throw ReadRequestError("bad sequences in end marker") }
            for origin in origins {
                guard case .int(let sequence) = origin.value else { throw ReadRequestError("bad sequence in end marker") }
                sequences[partition, default: [:]][ExactKey(origin.name)] = sequence
            }
        }
        // Absent from the end markers of readers before partitioned caches.
        var ownership: [Int32: PartitionOwnership] = [:]
        if case .object(let ownershipObject)? = object["ownership"] {
            for member in ownershipObject {
                guard let partition = Int32(member.name), case .object(let owned) = member.value, case .int(let term)? = owned["ownershipTerm"], term >= 1,
                      case .string(let owner)? = owned["owner"]
                else { throw ReadRequestError("bad ownership in end marker") }
                ownership[partition] = PartitionOwnership(term: term, owner: owner)
            }
        }
        self.init(
            request: request, rows: rows, offsets: offsets, sequences: sequences,
            snapshotTime: { if case .int(let t)? = object["snapshotTime"] { t } else { 0 } }(), ownership: ownership
        )
    }
}
