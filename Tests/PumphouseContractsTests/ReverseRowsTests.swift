import Testing
@testable import PumphouseContracts

@Suite("Rows of a reverse-pump answer, many to a message")
struct ReverseRowsTests {
    static func contract(_ key: String, _ sequence: Int64) -> Contract {
        Contract(
            name: try! ContractName("bench.Account"), version: 1, action: .add, key: key, origin: "pumphouse-reader",
            sequence: sequence, eventTime: 1_763_700_000_000, fields: ["id": .string(key), "balance": .int(sequence)]
        )
    }

    /// Each row's key and body as `forEach` hands them out, copied out of the batch.
    static func frames(_ rows: ReverseRows) -> [(key: [UInt8], value: [UInt8])] {
        var frames: [(key: [UInt8], value: [UInt8])] = []
        rows.forEach { key, value in frames.append((Array(key), Array(value))) }
        return frames
    }

    @Test("rows come back in order with their exact bytes, canonically equal keys kept apart, and decode as the contracts sent")
    func roundTrip() throws {
        let codec = ContractCodec()
        // Composed and decomposed é, and an empty body's neighbour: byte-different keys.
        let keys = ["caf\u{E9}", "cafe\u{301}", "\u{212B}", "\u{C5}", "plain"]
        var rows = ReverseRows()
        var sent: [EncodedContract] = []
        for (index, key) in keys.enumerated() {
            let encoded = try codec.encode(Self.contract(key, Int64(index + 1)))
            sent.append(encoded)
            rows.append(key: key.utf8, value: encoded.value)
        }
        #expect(rows.count == keys.count)
        let message = ReverseReply.rows(request: "r-1", rows).message
        #expect(message.key == "r-1")
        let read = try #require(ReverseReply(key: Array(message.key.utf8), value: message.value, headers: message.headers.map { ($0.name, Array($0.value.utf8)) }))
        guard case .rows(let request, let batch) = read else {
            Issue.record("a batch read back as \(read)")
            return
        }
        #expect(request == "r-1" && batch.count == keys.count)
        let frames = Self.frames(batch)
        #expect(frames.map(\.key) == keys.map { Array($0.utf8) })
        #expect(frames.map(\.value) == sent.map(\.value))
        var decoded: [Contract] = []
        try batch.forEach { (key, value) throws(ContractError) in decoded.append(try codec.decode(key: key, value: value)) }
        #expect(decoded.map { Array($0.key.utf8) } == keys.map { Array($0.utf8) })
        #expect(decoded.map(\.sequence) == [1, 2, 3, 4, 5])
    }

    @Test("a batch whose last length runs past the end of the message is refused, not read short")
    func truncated() {
        var rows = ReverseRows()
        rows.append(key: "k1".utf8, value: Array("{}".utf8))
        rows.append(key: "k2".utf8, value: Array(repeating: 0x20, count: 300))
        let whole = rows.bytes
        #expect(ReverseRows(bytes: whole)?.count == 2)
        for cut in [1, 4, 299, whole.count - 7] {
            #expect(ReverseRows(bytes: Array(whole.dropLast(cut))) == nil, "cut \(cut) bytes")
        }
        // Nothing at all is a batch of none; a bare length without its bytes is not.
        #expect(ReverseRows(bytes: [])?.count == 0)
        #expect(ReverseRows(bytes: [0, 0, 0, 1]) == nil)
        let headers: [(name: String, value: [UInt8]?)] = [(ReadRequest.Header.request, Array("r".utf8)), (ReverseReply.Header.kind, Array("rows".utf8))]
        #expect(ReverseReply(key: nil, value: Array(whole.dropLast(1)), headers: headers) == nil)
    }

    @Test("one row in a message of its own, as readers before batches sent it, reads as a batch of one")
    func singleRowOfAnOlderReader() throws {
        let encoded = try ContractCodec().encode(Self.contract("acc-1", 1))
        let headers = encoded.headers.map { (name: $0.name, value: Optional(Array($0.value.utf8))) }
            + [(ReadRequest.Header.request, Array("r-old".utf8)), (ReverseReply.Header.kind, Array("row".utf8))]
        let read = try #require(ReverseReply(key: Array(encoded.key.utf8), value: encoded.value, headers: headers))
        guard case .rows(let request, let batch) = read else {
            Issue.record("an old row read back as \(read)")
            return
        }
        #expect(request == "r-old")
        let frames = Self.frames(batch)
        #expect(frames.count == 1 && frames.first?.key == Array("acc-1".utf8) && frames.first?.value == encoded.value)
    }

    @Test("a batch fills at its target size, and emptying it starts the count again")
    func filling() {
        var rows = ReverseRows()
        let value = Array(repeating: UInt8(ascii: "x"), count: 1000)
        var appended = 0
        while !rows.isFull {
            rows.append(key: "k".utf8, value: value)
            appended += 1
        }
        #expect(appended == (ReverseRows.targetBytes + 1008) / 1009)  // 1,009 bytes a frame, rounded up
        #expect(rows.count == appended && rows.bytes.count >= ReverseRows.targetBytes)
        rows.removeAll()
        #expect(rows.isEmpty && rows.bytes.isEmpty && !rows.isFull)
    }

    @Test("a large row does not join a batch it would take past the message bound, and a row alone fits up to the bound, framing included")
    func bound() {
        var rows = ReverseRows()
        while !rows.isFull { rows.append(key: "k".utf8, value: Array(repeating: 1, count: 1000)) }
        #expect(!rows.fits(keyCount: 10, valueCount: 700_000))
        #expect(rows.fits(keyCount: 10, valueCount: ReverseRows.maxBytes - rows.bytes.count - 18))
        #expect(!rows.fits(keyCount: 10, valueCount: ReverseRows.maxBytes - rows.bytes.count - 17))
        rows.removeAll()
        #expect(rows.fits(keyCount: 10, valueCount: 700_000))
        #expect(ReverseRows.framedBytes(keyCount: 10, valueCount: ReverseRows.maxBytes - 18) == ReverseRows.maxBytes)
        #expect(rows.fits(keyCount: 10, valueCount: ReverseRows.maxBytes - 18) && !rows.fits(keyCount: 10, valueCount: ReverseRows.maxBytes - 17))
        #expect(ReverseRows.maxBytes < 1_000_000, "librdkafka's default message.max.bytes")
    }
}
