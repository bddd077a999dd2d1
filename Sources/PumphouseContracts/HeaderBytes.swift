/// A record's header where it lies (in a Kafka client's buffer, say): its name's bytes
/// and its value's (nil: a header without a value), valid only inside the call that
/// lends them. Kafka tells headers apart by these bytes, and a consumer reads them for
/// every message, so decoding compares them in place rather than making Strings of them.
public typealias HeaderBytes = (name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?)

/// Lends headers given as Swift values the way a client's buffer would: one copy of
/// their names and values side by side. For callers off the hot path (tests, tools).
package func withHeaderBytes<R, E: Error>(
    _ headers: [(name: String, value: [UInt8]?)], _ body: (UnsafeBufferPointer<HeaderBytes>) throws(E) -> R
) throws(E) -> R {
    guard !headers.isEmpty else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
    var bytes: [UInt8] = []
    var places: [(name: Range<Int>, value: Range<Int>?)] = []
    places.reserveCapacity(headers.count)
    for header in headers {
        let nameStart = bytes.count
        bytes += header.name.utf8
        let name = nameStart..<bytes.count
        guard let value = header.value else {
            places.append((name, nil))
            continue
        }
        bytes += value
        places.append((name, name.upperBound..<bytes.count))
    }
    return try bytes.withUnsafeBytes { base in
        let lent = places.map { place -> HeaderBytes in
            (UnsafeRawBufferPointer(rebasing: base[place.name]), place.value.map { UnsafeRawBufferPointer(rebasing: base[$0]) })
        }
        return lent.withUnsafeBufferPointer { lent in Result { () throws(E) in try body(lent) } }
    }.get()
}
