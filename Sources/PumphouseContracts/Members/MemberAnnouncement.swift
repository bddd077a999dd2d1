/// One message on a pipeline's member topic: a processing unit about one named cache,
/// or a data reader about itself.
///
/// Units build their member lists from these, and `pumphouse status` shows who runs
/// from the same messages. It lives beside the other wire formats because units,
/// readers and the command line all speak it. Every field added later is optional, so
/// announcements of older units still decode, and older units ignore what they do not
/// know.
package struct MemberAnnouncement: Sendable, Hashable {
    package enum Event: String, Sendable {
        case join, heartbeat, leave
    }

    /// Who announces. Readers announce on the member topic too, because a consumer
    /// group's members cannot be asked of every broker (the local one answers
    /// DescribeGroups with no members); units ignore readers' announcements.
    package enum Role: String, Sendable {
        case unit, reader
    }

    package var event: Event
    package var role: Role
    /// The named cache a unit speaks of; empty for a reader, which serves every cache.
    package var cache: String
    package var member: String
    package var address: String
    /// Milliseconds since the epoch when the member started.
    package var since: Int64
    /// Whether the unit has loaded its caches and serves.
    package var loaded = false
    /// The reverse-pump answer its replica was loaded from: a joining unit loads the same
    /// one and needs no database.
    package var snapshot: CacheSnapshot?
    /// The unit's changes the broker has not acknowledged yet (its spool's depth); nil
    /// from units that predate it, and from readers.
    package var unacknowledged: Int?
    /// The partitions of the cache the unit owns by its own fold of their claims, with
    /// each one's ownership term; nil for a replicated cache, from readers, and from
    /// units that predate it. Units that do not read a partition learn its owner here
    /// (the latest term any member names wins, as it would in the partition's fold).
    package var owns: [Int32: Int64]?
    /// Whether the unit is stopping and hands its partitions over first: its peers leave
    /// it out of the assignment (it owns nothing in their plan) yet count it alive, so
    /// each successor waits for the leaver's own hand-over claim, which lands behind its
    /// last change, instead of claiming. Absent from units that predate it.
    package var leaving = false
    /// Whether the unit, as a successor, waits for a leaving member's hand-over claim
    /// rather than handing the partition back to it (units since 2026-12-07 say so). A
    /// unit hands its partitions over before it stops only when every peer does: an
    /// earlier one would hand each partition straight back until the leaver gave up.
    package var awaitsHandOver = false

    package func encoded() -> [UInt8] {
        var object: JSONObject = [
            "event": .string(event.rawValue), "role": .string(role.rawValue), "cache": .string(cache), "member": .string(member),
            "address": .string(address), "since": .int(since), "loaded": .bool(loaded),
        ]
        if let snapshot {
            object["snapshot"] = .object(["request": .string(snapshot.request), "offset": .int(snapshot.offset)])
        }
        if let unacknowledged {
            object["unacknowledged"] = .int(Int64(unacknowledged))
        }
        if leaving {
            object["leaving"] = .bool(true)
        }
        if awaitsHandOver {
            object["awaitsHandOver"] = .bool(true)
        }
        if let owns {
            object["owns"] = .object(JSONObject(owns.sorted { $0.key < $1.key }.map { JSONObject.Member(name: String($0.key), value: .int($0.value)) }))
        }
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    package init(
        event: Event, role: Role = .unit, cache: String, member: String, address: String, since: Int64,
        loaded: Bool = false, snapshot: CacheSnapshot? = nil, unacknowledged: Int? = nil, owns: [Int32: Int64]? = nil,
        leaving: Bool = false, awaitsHandOver: Bool = false
    ) {
        self.event = event
        self.role = role
        self.cache = cache
        self.member = member
        self.address = address
        self.since = since
        self.loaded = loaded
        self.snapshot = snapshot
        self.unacknowledged = unacknowledged
        self.owns = owns
        self.leaving = leaving
        self.awaitsHandOver = awaitsHandOver
    }

    /// Large enough for a unit owning thousands of partitions.
    static let maxBytes = 64 * 1024

    /// nil for anything that is not a well-formed announcement (it is ignored), including
    /// one from a role this version does not know.
    package init?(_ bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONParser(maxBytes: Self.maxBytes, maxDepth: 3).parse(bytes),
              let event = object["event"]?.stringValue.flatMap(Event.init(rawValue:)),
              let cache = object["cache"]?.stringValue, let member = object["member"]?.stringValue, !member.isEmpty,
              let address = object["address"]?.stringValue,
              case .int(let since)? = object["since"]
        else { return nil }
        let role: Role
        switch object["role"] {
        case nil: role = .unit  // units that predate roles
        case .string(let name)?:
            guard let known = Role(rawValue: name) else { return nil }
            role = known
        default: return nil
        }
        var snapshot: CacheSnapshot?
        if case .object(let position)? = object["snapshot"], let request = position["request"]?.stringValue, case .int(let offset)? = position["offset"] {
            snapshot = CacheSnapshot(request: request, offset: offset)
        }
        let loaded = if case .bool(true)? = object["loaded"] { true } else { false }
        let leaving = if case .bool(true)? = object["leaving"] { true } else { false }
        let awaitsHandOver = if case .bool(true)? = object["awaitsHandOver"] { true } else { false }
        var unacknowledged: Int?
        if case .int(let count)? = object["unacknowledged"], count >= 0 { unacknowledged = Int(clamping: count) }
        // A malformed list of owned partitions makes the whole announcement malformed:
        // read in part, it would route keys to a unit that does not own them.
        var owns: [Int32: Int64]?
        switch object["owns"] {
        case nil: break
        case .object(let listed)?:
            var parsed: [Int32: Int64] = [:]
            for member in listed.members {
                guard let partition = Self.partitionNumber(member.name), case .int(let term) = member.value, term > 0,
                      parsed.updateValue(term, forKey: partition) == nil
                else { return nil }
            }
            owns = parsed
        default: return nil
        }
        self.init(
            event: event, role: role, cache: cache, member: member, address: address, since: since,
            loaded: loaded, snapshot: snapshot, unacknowledged: unacknowledged, owns: owns, leaving: leaving,
            awaitsHandOver: awaitsHandOver
        )
    }

    /// A partition as `owns` names it: the decimal digits of a number from 0 to
    /// Int32.max, with no sign, no leading zero and nothing else.
    private static func partitionNumber(_ name: String) -> Int32? {
        let digits = Array(name.utf8)
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              digits.count == 1 || digits[0] != UInt8(ascii: "0")
        else { return nil }
        return Int32(name)
    }
}
