#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A unit's claim to own one partition of a partitioned cache from this point of the log
/// on: the record that makes ownership a fact of the log instead of an opinion of the
/// units.
///
/// Units compute who should own each partition from their member lists, and two units
/// may briefly disagree. Whatever they think, the partition's log decides: every consumer
/// (the owner, its backups, writers, replay, readers) folds the claims in log order with
/// `PartitionOwnership`, and a change counts only if it was decided under the latest
/// claim's term by the unit that made that claim. A deposed owner's later changes are
/// therefore discarded the same way everywhere, with no consensus beyond Kafka's
/// per-partition order.
///
/// The term is the partition's ownership generation: 1 for the first claim, one more for
/// each owner after. It is not the writer's fencing epoch, which fences writer
/// instances.
///
/// On the wire: a message on the cache's topic, in the claimed partition, whose body
/// says `"record":"ownershipClaim"` (a member no contract may carry, so no contract is
/// mistaken for a claim) and whose `ph-record` header repeats it, so a consumer can tell
/// a claim from a change without parsing the body.
package struct OwnershipClaim: Sendable, Hashable, CustomStringConvertible {
    package static let recordHeader = "ph-record"
    package static let recordName = "ownershipClaim"
    /// The highest term a claim may carry: 2^53, more owners than a partition can see,
    /// and far enough below Int64.max that no successor's term overflows.
    package static let maxTerm: Int64 = 1 << 53

    package var cache: ContractName
    package var partition: Int32
    package var term: Int64
    package var owner: String
    /// Milliseconds since the epoch when the owner claimed it.
    package var claimedAt: Int64
    /// How the claiming unit placed keys in the topic's partitions (`KafkaKeyPartitioner`'s
    /// description, e.g. `murmur2`): a unit loading the topic under another placement
    /// would find the partition's keys where its owners did not put them, so it refuses
    /// the topic. nil in claims written before claims said it.
    package var partitioner: String?

    package init(cache: ContractName, partition: Int32, term: Int64, owner: String, claimedAt: Int64, partitioner: String? = nil) {
        self.cache = cache
        self.partition = partition
        self.term = term
        self.owner = owner
        self.claimedAt = claimedAt
        self.partitioner = partitioner
    }

    /// Owners are told apart by their bytes, as everywhere a unit id is an identity.
    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.cache == rhs.cache && lhs.partition == rhs.partition && lhs.term == rhs.term
            && lhs.owner.isSameBytes(as: rhs.owner) && lhs.claimedAt == rhs.claimedAt
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(cache)
        hasher.combine(partition)
        hasher.combine(term)
        hasher.combine(ExactKey(owner))
    }

    package var description: String { "claim of \(cache)[\(partition)] by \(owner), ownership term \(term)" }

    /// The message key: one per term, so a compacted topic keeps every claim (compaction
    /// keeps the last message per key, and a claim that compaction removed would let a
    /// deposed owner's changes through for readers of the compacted log).
    package var key: [UInt8] { Array(keyText.utf8) }
    package var keyText: String { "ph-claim/\(partition)/\(term)" }

    package var headers: [(name: String, value: [UInt8])] { headerTexts.map { ($0.name, Array($0.value.utf8)) } }
    package var headerTexts: [(name: String, value: String)] { [(Self.recordHeader, Self.recordName)] }

    package func encoded() -> [UInt8] {
        var object: JSONObject = [
            "record": .string(Self.recordName), "cache": .string(cache.rawValue), "partition": .int(Int64(partition)),
            "ownershipTerm": .int(term), "owner": .string(owner), "claimedAt": .int(claimedAt),
        ]
        if let partitioner { object["partitioner"] = .string(partitioner) }
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    /// Whether a message's headers mark it as a claim; a message without the header may
    /// still be one whose headers some hop dropped (`init(body:)` tells).
    package static func isClaim(headers: [(name: String, value: [UInt8]?)]) -> Bool {
        withHeaderBytes(headers) { isClaim(headers: $0) }
    }

    /// `isClaim(headers:)` where the headers lie.
    package static func isClaim(headers: UnsafeBufferPointer<HeaderBytes>) -> Bool {
        headers.contains { header in
            guard let value = header.value else { return false }
            return ContractCodec.hasBytes(header.name, of: recordHeader) && ContractCodec.hasBytes(value, of: recordName)
        }
    }

    /// Whether `body` could be a claim at all, without parsing it: a claim's body is at
    /// most 4 KiB and holds its record name, literally or (only then is a backslash
    /// there) with escapes. False is certain, so a consumer that wants only the claims
    /// of a partition passes such a record over undecoded.
    package static func mayBeClaim(body bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count <= 4096, let base = bytes.baseAddress else { return false }
        if memchr(base, Int32(UInt8(ascii: "\\")), bytes.count) != nil { return true }
        return recordNameBytes.withUnsafeBytes { name in
            // Each place the name's first byte occurs, compared from there.
            var from = 0
            while from + name.count <= bytes.count, let found = memchr(base + from, Int32(name[0]), bytes.count - name.count + 1 - from) {
                if memcmp(found, name.baseAddress!, name.count) == 0 { return true }
                from = base.distance(to: UnsafeRawPointer(found)) + 1
            }
            return false
        }
    }

    private static let recordNameBytes = Array(recordName.utf8)

    /// nil if the body is not a claim at all (a contract, say); throws if it says it is
    /// one but is malformed, so a broken claim is reported rather than read as a change.
    package init?(body: [UInt8]) throws(ContractError) {
        guard case .object(let object)? = try? JSONParser(maxBytes: 4096, maxDepth: 2).parse(body),
              case .string(let record)? = object["record"], record.isSameBytes(as: Self.recordName)
        else { return nil }
        func problem(_ member: String, _ text: String) -> ContractError { .invalidEnvelope(member: member, problem: "an ownership claim's \(member) \(text)") }
        guard case .string(let cacheName)? = object["cache"] else { throw problem("cache", "must be a contract name") }
        let cache: ContractName
        do { cache = try ContractName(cacheName) } catch { throw problem("cache", "must be a contract name: \(error)") }
        guard case .int(let partition)? = object["partition"], partition >= 0, partition <= Int64(Int32.max) else {
            throw problem("partition", "must be a partition number")
        }
        // Bounded, so the next owner's term (one more) cannot overflow: every consumer
        // reads claims here, so all of them refuse the same ones.
        guard case .int(let term)? = object["ownershipTerm"], (1...Self.maxTerm).contains(term) else {
            throw problem("ownershipTerm", "must be a whole number from 1 to \(Self.maxTerm)")
        }
        guard case .string(let owner)? = object["owner"] else { throw problem("owner", "must be a unit id") }
        // The owner is an origin: writers keep it in their ledger as they keep origins.
        if let origin = Contract.originProblem(owner) { throw problem("owner", origin) }
        guard case .int(let claimedAt)? = object["claimedAt"] else { throw problem("claimedAt", "must be milliseconds since the epoch") }
        var partitioner: String?
        switch object["partitioner"] {
        case nil: break
        case .string(let text)?: partitioner = text
        case _?: throw problem("partitioner", "must be the name of how keys are placed, such as \"murmur2\"")
        }
        self.init(cache: cache, partition: Int32(partition), term: term, owner: owner, claimedAt: claimedAt, partitioner: partitioner)
    }
}
