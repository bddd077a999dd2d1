import PropertyBased
import PumphouseContracts
import PumphouseTestSupport
import Testing

@Suite("Contract codec")
struct ContractCodecTests {
    let codec = ContractCodec()

    @Test("any valid contract survives encode and decode unchanged")
    func roundTrip() async {
        await CaseSeeds.check(count: 500, "ContractCodecTests/roundTrip") { seed in
            let contract = RandomContracts.contract(seed: seed)
            do {
                let encoded = try codec.encode(contract)
                #expect(encoded.key == contract.key)
                let decoded = try codec.decode(key: Array(encoded.key.utf8), value: encoded.value, headers: encoded.headers.map { ($0.name, Array($0.value.utf8)) })
                #expect(decoded == contract, "seed \(seed)")
                // Headers are optional: the body alone is authoritative.
                #expect(try codec.decode(key: Array(encoded.key.utf8), value: encoded.value) == contract, "seed \(seed)")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }

    @Test("an origin must be 1 to 255 bytes of UTF-8 without control characters, encoding and decoding alike; an ownership claim's owner too")
    func originRules() throws {
        func contract(origin: String) -> Contract {
            Contract(name: try! ContractName("bench.Account"), version: 1, action: .delete, key: "k", origin: origin, sequence: 1, eventTime: 0)
        }
        let fine = [String(repeating: "u", count: 255), "ünit-é.1", "unit_✓-𝄞", String(repeating: "é", count: 127)]
        for origin in fine {
            let encoded = try codec.encode(contract(origin: origin))
            #expect(try codec.decode(key: Array(encoded.key.utf8), value: encoded.value).origin.isSameBytes(as: origin))
        }
        let refused = ["", String(repeating: "u", count: 256), String(repeating: "é", count: 128), "u\u{0}x", "u\nx", "u\u{7F}", "\t"]
        for origin in refused {
            #expect(throws: ContractError.self, "origin \(Array(origin.utf8))") { try codec.encode(contract(origin: origin)) }
            // Written by hand, as a foreign producer could: refused on decoding too.
            var body = Array(#"{"contract":"bench.Account","version":1,"action":"delete","key":"k","origin":"#.utf8)
            body += try JSONWriter.encode(.string(origin)) + Array(#","seq":1,"eventTime":0}"#.utf8)
            let error = try #require(throws: ContractError.self) { try codec.decode(key: Array("k".utf8), value: body) }
            #expect(error.code == "invalid-envelope", "\(error)")
        }
    }

    @Test("any JSON value survives write and parse")
    func jsonRoundTrip() async {
        await CaseSeeds.check(count: 500, "ContractCodecTests/jsonRoundTrip") { seed in
            var rng = SplitMix(state: seed)
            let value = RandomContracts.json(&rng)
            do {
                let parsed = try JSONParser().parse(try JSONWriter.encode(value))
                #expect(parsed == value, "seed \(seed)")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }

    @Test("headers carry the routing fields")
    func headers() throws {
        let contract = Contract(
            name: try ContractName("ticketing.Seat"), version: 3, action: .update, key: "A-12", origin: "unit-7",
            sequence: 42, baseVersion: 5, eventTime: 1_763_700_000_000, fields: JSONObject(["status": .string("held")])
        )
        let headers = Dictionary(uniqueKeysWithValues: try codec.encode(contract).headers.map { ($0.name, $0.value) })
        #expect(headers == ["ph-contract": "ticketing.Seat", "ph-version": "3", "ph-action": "update", "ph-origin": "unit-7", "ph-seq": "42"])
    }

    static let valid = Array(#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":1,"eventTime":0,"fields":{"id":"a"}}"#.utf8)

    @Test("the incarnation travels in the body; a body written before it existed decodes without one")
    func incarnation() throws {
        let contract = Contract(
            name: try ContractName("bench.Account"), version: 1, action: .add, key: "a", origin: "u", sequence: 1_000_002,
            eventTime: 0, incarnation: 1_000_000, fields: ["id": .string("a")]
        )
        let encoded = try codec.encode(contract)
        #expect(String(decoding: encoded.value, as: UTF8.self).contains(#","incarnation":1000000,"#))
        #expect(try codec.decode(key: Array("a".utf8), value: encoded.value).incarnation == 1_000_000)
        #expect(try codec.decode(key: Array("a".utf8), value: Self.valid).incarnation == nil)
    }

    @Test("bad input gets a typed error naming what is wrong", arguments: [
        (#"{"contract":"bench.Account","version":1"#, "invalid-json", "unexpected end"),
        (#"[1,2]"#, "invalid-envelope", "must be a JSON object"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":1}"#, "invalid-envelope", "\"eventTime\": is missing"),
        (#"{"contract":"bench.Account","version":"1","action":"add","key":"a","origin":"u","seq":1,"eventTime":0}"#, "invalid-envelope", "must be an integer"),
        (#"{"contract":"bench.Account","version":1,"action":"upsert","key":"a","origin":"u","seq":1,"eventTime":0}"#, "invalid-envelope", "not add, update, delete or create"),
        (#"{"contract":"Bench","version":1,"action":"add","key":"a","origin":"u","seq":1,"eventTime":0}"#, "invalid-envelope", "not a contract name"),
        (#"{"contract":"bench.Account","version":0,"action":"add","key":"a","origin":"u","seq":1,"eventTime":0}"#, "invalid-envelope", "must be between 1 and"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":-1,"eventTime":0}"#, "invalid-envelope", "must not be negative"),
        (#"{"contract":"bench.Account","version":1,"action":"delete","key":"a","origin":"u","seq":1,"eventTime":0,"fields":{"x":1}}"#, "invalid-envelope", "carries no fields"),
        (#"{"contract":"bench.Account","version":1,"action":"update","key":"a","origin":"u","seq":1,"eventTime":0,"deltas":{"n":"x"}}"#, "invalid-envelope", "must be a number"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":1,"eventTime":0,"id":"a"}"#, "invalid-envelope", "belong under \"fields\""),
        (#"{"contract":"bench.Account","contract":"x.Y","version":1}"#, "invalid-json", "duplicate member"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":4,"incarnation":5,"eventTime":0}"#, "invalid-envelope", "\"incarnation\": must be between 0 and seq (4)"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":4,"incarnation":"1","eventTime":0}"#, "invalid-envelope", "\"incarnation\": must be an integer"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":4,"incarnation":1,"incarnation":1,"eventTime":0}"#, "invalid-json", "duplicate member"),
        (#"{"contract":"bench.Account","version":1,"action":"add","key":"b","origin":"u","seq":1,"eventTime":0}"#, "key-mismatch", "differs from the contract's key"),
    ])
    func badInput(body: String, code: String, mentions: String) throws {
        let error = try #require(throws: ContractError.self) {
            try codec.decode(key: Array("a".utf8), value: Array(body.utf8))
        }
        #expect(error.code == code, "\(error)")
        #expect(error.description.contains(mentions), "\(error)")
    }

    @Test("invalid UTF-8 is rejected, not replaced")
    func invalidUTF8() throws {
        var body = Array(#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u"#.utf8)
        body += [0xC3, 0x28]
        body += Array(#"","seq":1,"eventTime":0}"#.utf8)
        let error = try #require(throws: ContractError.self) { try codec.decode(key: Array("a".utf8), value: body) }
        #expect(error.code == "invalid-utf8")
    }

    @Test("oversize bodies are rejected before parsing, and when encoding")
    func oversize() throws {
        let small = ContractCodec(maxBytes: 64)
        let error = try #require(throws: ContractError.self) { try small.decode(key: Array("a".utf8), value: Self.valid) }
        #expect(error == .oversize(bytes: Self.valid.count, limit: 64))
        let contract = Contract(name: try ContractName("bench.Account"), version: 1, action: .add, key: "a", origin: "u", sequence: 1, eventTime: 0,
                                fields: JSONObject(["owner": .string(String(repeating: "x", count: 100))]))
        let encodeError = try #require(throws: ContractError.self) { try small.encode(contract) }
        guard case .oversize(let bytes, 64) = encodeError else {
            Issue.record("expected oversize, got \(encodeError)")
            return
        }
        #expect(bytes > 100)
    }

    @Test("headers that contradict the body are rejected")
    func headerMismatch() throws {
        let error = try #require(throws: ContractError.self) {
            try codec.decode(key: Array("a".utf8), value: Self.valid, headers: [("ph-version", Array("2".utf8))])
        }
        #expect(error == .headerMismatch(header: "ph-version", headerValue: "2", bodyValue: "1"))
    }

    @Test("a header agrees with the body only byte for byte: numbers as String spells them, text by its bytes")
    func headerBytes() throws {
        let body = Array(#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"caf\u00e9","seq":1,"eventTime":0,"fields":{"id":"a"}}"#.utf8)
        let sequenceBody = Array(#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":9223372036854775807,"eventTime":0,"fields":{"id":"a"}}"#.utf8)
        let agreeing: [(name: String, value: [UInt8]?)] = [
            ("ph-contract", Array("bench.Account".utf8)), ("ph-version", Array("1".utf8)), ("ph-action", Array("add".utf8)),
            ("ph-origin", Array("u".utf8)), ("ph-seq", Array("9223372036854775807".utf8)), ("other", nil),
        ]
        #expect(try codec.decode(key: Array("a".utf8), value: sequenceBody, headers: agreeing).sequence == Int64.max)
        let disagreeing: [(header: (name: String, value: [UInt8]?), body: [UInt8])] = [
            (("ph-version", Array("01".utf8)), Self.valid), (("ph-version", Array("+1".utf8)), Self.valid),
            (("ph-version", Array(" 1".utf8)), Self.valid), (("ph-version", nil), Self.valid), (("ph-version", []), Self.valid),
            (("ph-seq", Array("-0".utf8)), Self.valid), (("ph-seq", Array("1.0".utf8)), Self.valid),
            (("ph-seq", Array("92233720368547758070".utf8)), sequenceBody), (("ph-seq", Array("-9223372036854775808".utf8)), sequenceBody),
            (("ph-action", Array("ADD".utf8)), Self.valid), (("ph-contract", Array("bench.Account ".utf8)), Self.valid),
            // The body's origin is "café" with a precomposed é; the header spells it decomposed.
            (("ph-origin", Array("cafe\u{301}".utf8)), body),
            (("traceparent", nil), Array(#"{"contract":"bench.Account","version":1,"action":"add","key":"a","origin":"u","seq":1,"eventTime":0,"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","fields":{"id":"a"}}"#.utf8)),
        ]
        for (header, value) in disagreeing {
            let error = try #require(throws: ContractError.self, "\(header.name): \(header.value.map { String(decoding: $0, as: UTF8.self) } ?? "nil")") {
                try codec.decode(key: Array("a".utf8), value: value, headers: [header])
            }
            #expect(error.code == "header-mismatch")
        }
        // Absent and empty both stand for "no trace".
        #expect(try codec.decode(key: Array("a".utf8), value: Self.valid, headers: [("traceparent", nil), ("traceparent", [])]).traceParent == nil)
    }

    @Test("a unit knows its own record by the origin header's bytes and a sequence spelled as String spells it, each header once")
    func ownSequence() {
        func sequence(_ headers: [(name: String, value: [UInt8]?)], origin: String = "caf\u{E9}") -> Int64? {
            withHeaderBytes(headers) { ContractCodec.sequence(in: $0, ifOrigin: origin) }
        }
        let origin: (name: String, value: [UInt8]?) = ("ph-origin", Array("caf\u{E9}".utf8))
        #expect(sequence([("ph-contract", Array("bench.Account".utf8)), origin, ("ph-seq", Array("1764000000000001".utf8))]) == 1_764_000_000_000_001)
        #expect(sequence([("ph-seq", Array("-7".utf8)), origin]) == -7, "in any order")
        // Swift's == takes these origins for one; Kafka and the unit do not.
        #expect(sequence([("ph-origin", Array("cafe\u{301}".utf8)), ("ph-seq", Array("1".utf8))]) == nil)
        #expect(sequence([origin, ("ph-seq", Array("1".utf8))], origin: "Caf\u{E9}") == nil)
        for spelled in ["01", "+1", " 1", "1 ", "-0", "1.0", "", "92233720368547758070", "-9223372036854775809"] {
            #expect(sequence([origin, ("ph-seq", Array(spelled.utf8))]) == nil, "ph-seq \"\(spelled)\"")
        }
        #expect(sequence([origin, ("ph-seq", nil)]) == nil, "a sequence header without a value")
        #expect(sequence([("ph-origin", nil), ("ph-seq", Array("1".utf8))]) == nil, "an origin header without a value")
        #expect(sequence([origin]) == nil, "no sequence")
        #expect(sequence([("ph-seq", Array("1".utf8))]) == nil, "no origin")
        #expect(sequence([origin, ("ph-seq", Array("1".utf8)), ("ph-seq", Array("1".utf8))]) == nil, "a sequence twice")
        #expect(sequence([origin, origin, ("ph-seq", Array("1".utf8))]) == nil, "an origin twice")
        #expect(sequence([(ContractCodec.Header.origin.uppercased(), Array("caf\u{E9}".utf8)), ("ph-seq", Array("1".utf8))]) == nil, "names by their bytes")
    }

    @Test("a traceparent header that contradicts the body is rejected")
    func traceHeader() throws {
        let error = try #require(throws: ContractError.self) {
            try codec.decode(key: Array("a".utf8), value: Self.valid, headers: [("traceparent", Array("00-x-y-01".utf8))])
        }
        #expect(error.code == "header-mismatch")
    }

    @Test("encode refuses what decode would refuse: a version beyond Int32")
    func versionBound() throws {
        let contract = Contract(name: try ContractName("bench.Account"), version: Int(Int32.max) + 1, action: .delete, key: "a", origin: "u", sequence: 1, eventTime: 0)
        let error = try #require(throws: ContractError.self) { try codec.encode(contract) }
        #expect(error.code == "invalid-envelope")
    }

    @Test("a tombstone is not a contract")
    func tombstone() throws {
        let error = try #require(throws: ContractError.self) { try codec.decode(key: Array("a".utf8), value: nil) }
        #expect(error.code == "invalid-envelope")
    }

    @Test("NaN cannot be encoded")
    func nan() throws {
        let contract = Contract(name: try ContractName("bench.Account"), version: 1, action: .add, key: "a", origin: "u", sequence: 1, eventTime: 0,
                                fields: JSONObject(["x": .double(.nan)]))
        let error = try #require(throws: ContractError.self) { try codec.encode(contract) }
        #expect(error.code == "invalid-json")
    }
}
