/// A request to a data reader: stream a named cache's rows (all of them, or some keys)
/// from PostgreSQL back to the units, on the reverse-pump topic named by `replyTo`.
///
/// On the request topic the message key is the cache, so one cache's requests are served
/// in order, and the request id and reply topic travel as headers too: a reader that
/// cannot parse the body can still say so to the requester.
package struct ReadRequest: Sendable, Hashable {
    package var id: String
    package var cache: String
    /// The reverse-pump topic the reply goes to.
    package var replyTo: String
    /// nil: the whole cache (a load); otherwise only these keys (an archive read).
    package var keys: [String]?
    /// The unit asking, for logs.
    package var requester: String
    /// Epoch milliseconds after which nobody waits for the answer: a reader that reaches
    /// the request later skips it instead of streaming a snapshot to no one.
    package var deadline: Int64

    package enum Header {
        package static let request = "ph-request"
        package static let replyTo = "ph-reply-to"
    }

    package init(id: String, cache: String, replyTo: String, keys: [String]?, requester: String, deadline: Int64) {
        self.id = id
        self.cache = cache
        self.replyTo = replyTo
        self.keys = keys
        self.requester = requester
        self.deadline = deadline
    }

    package var value: [UInt8] {
        var object: JSONObject = [
            "id": .string(id), "cache": .string(cache), "replyTo": .string(replyTo),
            "requester": .string(requester), "deadline": .int(deadline),
        ]
        if let keys { object["keys"] = .array(keys.map(JSONValue.string)) }
        return (try? JSONWriter.encode(.object(object))) ?? []
    }

    package var headers: [(name: String, value: String)] {
        [(Header.request, id), (Header.replyTo, replyTo)]
    }

    /// The deadlines a request may carry: from the epoch to the end of year 9999.
    package static let deadlines: ClosedRange<Int64> = 0...RequestBounds.latestInstant

    /// Reads a request body; the error says what is wrong, for the error reply.
    package init(value: [UInt8]?) throws(ReadRequestError) {
        guard let value, !value.isEmpty else { throw ReadRequestError("the request has no body") }
        let parsed: JSONValue
        do {
            parsed = try JSONParser(maxBytes: 1 << 20, maxDepth: 4).parse(value)
        } catch {
            throw ReadRequestError("the request body is not JSON: \(error)")
        }
        guard case .object(let object) = parsed else { throw ReadRequestError("the request body must be a JSON object") }
        func text(_ name: String) throws(ReadRequestError) -> String {
            guard let value = object[name]?.stringValue, !value.isEmpty else {
                throw ReadRequestError("the request needs \"\(name)\" as a non-empty string")
            }
            return value
        }
        id = try text("id")
        cache = try text("cache")
        replyTo = try text("replyTo")
        requester = object["requester"]?.stringValue ?? "unknown"
        // Bounded, so a reader's arithmetic on it (how long ago it passed) cannot
        // overflow: a request that traps its reader is read again by the next one.
        guard case .int(let deadline)? = object["deadline"], Self.deadlines.contains(deadline) else {
            throw ReadRequestError("the request needs \"deadline\" as epoch milliseconds between 0 and \(Self.deadlines.upperBound) (the end of year 9999)")
        }
        self.deadline = deadline
        switch object["keys"] {
        case nil, .null?:
            keys = nil
        case .array(let items)?:
            var keys: [String] = []
            for item in items {
                guard let key = item.stringValue else { throw ReadRequestError("\"keys\" must be an array of strings") }
                keys.append(key)
            }
            self.keys = keys
        default:
            throw ReadRequestError("\"keys\" must be an array of strings")
        }
    }
}

package struct ReadRequestError: Error, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
