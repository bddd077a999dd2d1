import PumphouseContracts

/// One unit's message on the member topic about one named cache.
struct MemberAnnouncement: Sendable, Hashable {
    enum Event: String, Sendable {
        case join, heartbeat, leave
    }

    var event: Event
    var cache: String
    var member: String
    var address: String
    var since: Int64
    /// Whether the unit has loaded its caches and serves.
    var loaded = false
    /// The reverse-pump answer its replica was loaded from: a joining unit loads the same
    /// one and needs no database.
    var snapshot: CacheSnapshot?

    func encoded() -> [UInt8] {
        var object: JSONObject = [
            "event": .string(event.rawValue), "cache": .string(cache), "member": .string(member),
            "address": .string(address), "since": .int(since), "loaded": .bool(loaded),
        ]
        if let snapshot {
            object["snapshot"] = .object(["request": .string(snapshot.request), "offset": .int(snapshot.offset)])
        }
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    init(event: Event, cache: String, member: String, address: String, since: Int64, loaded: Bool = false, snapshot: CacheSnapshot? = nil) {
        self.event = event
        self.cache = cache
        self.member = member
        self.address = address
        self.since = since
        self.loaded = loaded
        self.snapshot = snapshot
    }

    /// nil for anything that is not a well-formed announcement (it is ignored).
    init?(_ bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONParser(maxBytes: 4096, maxDepth: 3).parse(bytes),
              let event = object["event"]?.stringValue.flatMap(Event.init(rawValue:)),
              let cache = object["cache"]?.stringValue, let member = object["member"]?.stringValue, !member.isEmpty,
              let address = object["address"]?.stringValue,
              case .int(let since)? = object["since"]
        else { return nil }
        var snapshot: CacheSnapshot?
        if case .object(let position)? = object["snapshot"], let request = position["request"]?.stringValue, case .int(let offset)? = position["offset"] {
            snapshot = CacheSnapshot(request: request, offset: offset)
        }
        let loaded = if case .bool(true)? = object["loaded"] { true } else { false }
        self.init(event: event, cache: cache, member: member, address: address, since: since, loaded: loaded, snapshot: snapshot)
    }
}
