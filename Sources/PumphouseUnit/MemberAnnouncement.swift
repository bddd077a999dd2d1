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

    func encoded() -> [UInt8] {
        let object: JSONObject = [
            "event": .string(event.rawValue), "cache": .string(cache), "member": .string(member),
            "address": .string(address), "since": .int(since),
        ]
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    init(event: Event, cache: String, member: String, address: String, since: Int64) {
        self.event = event
        self.cache = cache
        self.member = member
        self.address = address
        self.since = since
    }

    /// nil for anything that is not a well-formed announcement (it is ignored).
    init?(_ bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONParser(maxBytes: 4096, maxDepth: 2).parse(bytes),
              let event = object["event"]?.stringValue.flatMap(Event.init(rawValue:)),
              let cache = object["cache"]?.stringValue, let member = object["member"]?.stringValue, !member.isEmpty,
              let address = object["address"]?.stringValue,
              case .int(let since)? = object["since"]
        else { return nil }
        self.init(event: event, cache: cache, member: member, address: address, since: since)
    }
}
