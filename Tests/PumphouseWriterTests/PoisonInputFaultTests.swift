import Foundation
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import PumphouseTestSupport
import PumphouseWriter
import Synchronization
import Testing

/// Fault scenario 6 (docs/reliability.md): whatever lands on a data pump's topic, the
/// writer dead-letters what it cannot apply, with the reason and the source, and keeps
/// applying everything else exactly.
@Suite("Fault scenario 6: poison input, fuzzed", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(20)))
struct PoisonInputFaultTests {
    /// Names a poison message so its dead letter can be matched to it. The codec
    /// ignores headers it does not know, so the tag changes no verdict.
    static let tag = "x-fault-poison"

    /// Kinds of bad input, each with the reasons the writer may give for it.
    enum Poison: String, CaseIterable {
        case randomBytes, truncatedJSON, wrongFieldTypes, wrongEnvelopeTypes, oversize
        /// A key over a megabyte: too large for the dead-letter topic even without the
        /// value, so its letter goes bare (only the `ph-dlq-*` headers).
        case oversizeKey
        case unknownContract, unknownVersion, foreignContract
        case invalidUTF8Body, invalidUTF8Key, invalidUTF8Header, missingKey, contradictingHeaders
        /// Valid contracts, but PostgreSQL text cannot hold NUL: stored verbatim is
        /// impossible, so they must be refused row by row, not stop the writer.
        case nulInField, nulInKey

        var reasons: Set<String> {
            switch self {
            // Random bytes can happen to start a valid JSON scalar, or hold bad UTF-8 in a string.
            case .randomBytes: ["invalid-json", "invalid-utf8", "invalid-envelope"]
            case .truncatedJSON: ["invalid-json"]
            case .wrongFieldTypes: ["invalid-payload"]
            case .wrongEnvelopeTypes: ["invalid-envelope"]
            case .oversize: ["oversize"]
            case .unknownContract: ["unknown-contract"]
            case .unknownVersion: ["unknown-version"]
            case .foreignContract: ["unexpected-contract"]
            case .invalidUTF8Body: ["invalid-utf8"]
            case .invalidUTF8Key, .missingKey, .oversizeKey: ["key-mismatch"]
            case .invalidUTF8Header, .contradictingHeaders: ["header-mismatch"]
            case .nulInField, .nulInKey: ["rejected-by-database"]
            }
        }
    }

    /// Keys and texts a careless writer would splice into SQL or COPY; a valid contract
    /// carrying them is data and must be stored as sent.
    static func hostileTexts(table: String) -> [String] {
        [
            "'; DROP TABLE \(table); --",
            "x'); DELETE FROM \(table) WHERE ('1'='1",
            #""quoted" "id""#,
            #"back\slash\\"#,
            "semi;colon;",
            "tab\there\nnew\rline",
            "$1::text",
            "%_like*",
            "é✓𝄞 ünïcode",
            #"\N"#,
            #"\."#,
        ]
    }

    /// Builds poison messages from a seed. Contracts in them come from their own origin,
    /// so they never take a sequence number a good contract needs.
    struct PoisonMaker {
        let topic: String
        var rng: SplitMix
        var made: [Int: Poison] = [:]

        static let origin = "unit-poison"

        mutating func make(_ kind: Poison, key goodKey: String) throws -> KafkaProducerMessage {
            let id = made.count
            made[id] = kind
            let sequence = Int64(id + 1)
            let account = try ContractName("bench.Account")
            func fields(_ key: String, owner: String = "poison") -> JSONObject {
                ["id": .string(key), "owner": .string(owner), "balance": .int(1), "currency": .string("EUR"), "status": .string("open"), "updatedAt": .int(0)]
            }
            func contract(_ key: String, name: ContractName = account, version: Int = 2, action: ContractAction = .add, fields given: JSONObject? = nil) -> Contract {
                Contract(name: name, version: version, action: action, key: key, origin: Self.origin, sequence: sequence, eventTime: 0,
                         fields: action == .delete ? [:] : given ?? fields(key))
            }
            func encoded(_ contract: Contract, codec: ContractCodec = ContractCodec()) throws -> (key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]) {
                let encoded = try codec.encode(contract)
                return (Array(encoded.key.utf8), encoded.value, encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) })
            }
            var message: (key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader])
            switch kind {
            case .randomBytes:
                let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
                message = (Array(goodKey.utf8), bytes, [])
            case .truncatedJSON:
                let whole = try encoded(contract(goodKey))
                message = (whole.key, Array(whole.value.prefix(Int.random(in: 0..<whole.value.count, using: &rng))), whole.headers)
            case .wrongFieldTypes:
                var bad = fields(goodKey)
                switch Int.random(in: 0..<8, using: &rng) {
                case 0: bad["balance"] = .string("100")
                case 1: bad["balance"] = .double(1.5)
                case 2: bad["owner"] = .int(42)
                case 3: bad["status"] = .string("'; DROP TABLE x; --")
                case 4: bad["id"] = .array([])
                case 5: bad["currency"] = .string("eur")
                case 6: bad["owner"] = nil
                default: bad["evil"] = .string("1; DELETE")
                }
                message = try encoded(contract(goodKey, fields: bad))
            case .wrongEnvelopeTypes:
                let member = [#""seq":"1""#, #""version":"2""#, #""fields":[]"#, #""action":"upsert""#, #""eventTime":1.5"#, #""origin":null"#].randomElement(using: &rng)!
                let standard = [#""contract":"bench.Account""#, #""version":2"#, #""action":"delete""#, #""key":"p\#(id)""#, #""origin":"u""#, #""seq":1"#, #""eventTime":0"#]
                let name = member.prefix { $0 != ":" }
                let body = "{" + (standard.filter { !$0.hasPrefix(name) } + [member]).joined(separator: ",") + "}"
                message = (Array("p\(id)".utf8), Array(body.utf8), [])
            case .oversize:
                let big = contract(goodKey, fields: fields(goodKey, owner: String(repeating: "o", count: (1 << 20) + 10)))
                message = try encoded(big, codec: ContractCodec(maxBytes: 1 << 22))
            case .unknownContract:
                message = try encoded(contract(goodKey, name: try ContractName(["bench.Nope", "evil.Drop", "bench.Account2"].randomElement(using: &rng)!), action: .delete))
            case .unknownVersion:
                message = try encoded(contract(goodKey, version: [3, 99, Int(Int32.max)].randomElement(using: &rng)!, action: .delete))
            case .foreignContract:
                message = try encoded(contract(goodKey, name: try ContractName("ticketing.Seat"), version: 1, action: .delete))
            case .invalidUTF8Body:
                var whole = try encoded(contract(goodKey, fields: fields(goodKey, owner: "MARK")))
                let mark = Array("MARK".utf8)
                let at = whole.value.indices.first { whole.value[$0...].starts(with: mark) }!
                whole.value.replaceSubrange(at..<(at + mark.count), with: [[0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF5, 0x80], [0xC0, 0xAF], [0xFF]].randomElement(using: &rng)!)
                message = whole
            case .invalidUTF8Key:
                message = try encoded(contract(goodKey))
                message.key = Bool.random(using: &rng) ? Array(goodKey.utf8) + [0xFF] : [0xC3, 0x28]
            case .invalidUTF8Header:
                message = try encoded(contract(goodKey))
                message.headers.append(KafkaHeader(name: ContractCodec.Header.origin, value: Array(Self.origin.utf8) + [0xFE]))
            case .missingKey:
                message = try encoded(contract(goodKey))
                message.key = nil
            case .oversizeKey:
                message = try encoded(contract(goodKey))
                message.key = Array(repeating: UInt8(ascii: "k"), count: (1 << 20) + 10)
            case .contradictingHeaders:
                message = try encoded(contract(goodKey))
                let (name, value) = [
                    (ContractCodec.Header.version, "1"), (ContractCodec.Header.contract, "bench.Other"), (ContractCodec.Header.action, "delete"),
                    (ContractCodec.Header.sequence, String(sequence + 1)), (ContractCodec.Header.traceParent, "00-x-y-01"),
                ].randomElement(using: &rng)!
                message.headers.removeAll { $0.name == name }
                message.headers.append(KafkaHeader(name: name, string: value))
            case .nulInField:
                message = try encoded(contract("nul-\(id)", fields: fields("nul-\(id)", owner: "before\u{0}after")))
            case .nulInKey:
                message = try encoded(contract("nul\u{0}\(id)"))
            }
            return KafkaProducerMessage(topic: topic, key: message.key, value: message.value, headers: message.headers + [KafkaHeader(name: PoisonInputFaultTests.tag, string: String(id))])
        }
    }

    @Test("fuzzed poison among good contracts is dead-lettered with its reason and source; the writer keeps going; good contracts, SQL text included, land exactly")
    func poisonAmongGoodContracts() async throws {
        let form = ScenarioForm.current
        let (goodCount, poisonCount, keyCount) = form.pick(short: (3_000, 300, 150), soak: (100_000, 20_000, 2_000))
        let fixture = try await WriterFixture(partitions: 3)
        let hostile = Self.hostileTexts(table: fixture.table)
        let keys = (0..<keyCount).map { "acc-\($0)" } + hostile
        var rng = SplitMix(state: 6)
        var work = Workload(topic: fixture.topic)
        var poison = PoisonMaker(topic: fixture.topic, rng: SplitMix(state: 66))
        var stream: [KafkaProducerMessage] = []

        /// One good change to a random key, as a unit would make it. Some go out without
        /// headers: the body alone is authoritative, so those are not poison.
        func good() throws {
            let key = keys.randomElement(using: &rng)!
            if work.rows[ExactKey(key)] == nil {
                try work.add(key, balance: Int64.random(in: 0...1_000, using: &rng))
            } else {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: try work.delete(key)
                case 1: try work.add(key, balance: 7)
                case 2: try work.update(key, owner: hostile.randomElement(using: &rng)!)
                case 3...5: try work.update(key, status: ["open", "frozen", "closed"].randomElement(using: &rng)!)
                default: try work.update(key, delta: Int64.random(in: -50...50, using: &rng))
                }
            }
            var message = work.messages.last!
            if Int.random(in: 0..<10, using: &rng) == 0 { message.headers = [] }
            stream.append(message)
        }

        // Every kind at least once, the rest at random; a few oversize ones only, as each is a megabyte.
        let oversizeCount = form.pick(short: 3, soak: 20)
        var kinds = Poison.allCases + Array(repeating: .oversize, count: oversizeCount - 1)
        let common = Poison.allCases.filter { $0 != .oversize && $0 != .oversizeKey }
        kinds += (0..<(poisonCount - kinds.count)).map { _ in common.randomElement(using: &rng)! }
        kinds.shuffle(using: &rng)
        let goodPerPoison = goodCount / poisonCount
        for kind in kinds {
            for _ in 0..<Int.random(in: 0...(2 * goodPerPoison), using: &rng) { try good() }
            stream.append(try poison.make(kind, key: keys.randomElement(using: &rng)!))
        }
        // After the last poison: every hostile key stored with hostile text as its owner,
        // so the writer must have gone past all the poison to apply them.
        let tail = work.messages.count
        for text in hostile {
            if work.rows[ExactKey(text)] == nil { try work.add(text, balance: 1) }
            try work.update(text, owner: text)
        }
        stream += work.messages[tail...]
        #expect(poison.made.count == poisonCount)

        let writer = try fixture.writer()
        let failure = Mutex<(any Error)?>(nil)
        let running = Task {
            do { try await writer.run() } catch { failure.withLock { $0 = error } }
        }
        defer { running.cancel() }
        try await fixture.publish(stream, maxMessageBytes: 1 << 23)
        let published = ContinuousClock.now
        let total = stream.count
        _ = try await waitFor("the writer to take in all \(total) messages", timeout: form.pick(short: .seconds(90), soak: .seconds(900))) { () -> Bool? in
            try await Task.sleep(for: .milliseconds(50))
            if let error = failure.withLock({ $0 }) { throw error }
            return writer.statistics.consumed >= total ? true : nil
        }
        let converge = ContinuousClock.now - published
        #expect(writer.readiness.isReady, "the writer must still be consuming: \(writer.readiness.reason)")
        running.cancel()
        _ = await running.result
        let statistics = writer.statistics

        // Good contracts: the table is exactly what they describe, hostile text verbatim.
        let rows = try await fixture.rows()
        let expected = work.expectedRows
        let wrongRows = expected.filter { rows[$0.key] != $0.value }.count + rows.keys.filter { expected[$0] == nil }.count
        #expect(rows == expected)
        for text in hostile {
            #expect(rows[ExactKey(text)]?["owner"] == .some(text), "hostile key \(text.debugDescription) must be stored as sent")
        }

        // Poison: each one dead-lettered once, with its reason, source topic and offset.
        let sources = try await DataWriterTests.readAll(fixture.topic, fixture, partitions: 3, timeout: .seconds(120))
        var origin: [Int: KafkaMessage] = [:]
        var atSource: [KafkaTopicPartitionOffset: Int] = [:]
        for message in sources {
            if let id = message.headers.value(named: Self.tag).flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
                origin[id] = message
                atSource[KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: KafkaOffset(message.offset))] = id
            }
        }
        #expect(origin.count == poisonCount, "every poison message must be on the source topic")
        let letters = try await DataWriterTests.readAll(fixture.configuration.writer(named: fixture.name)!.deadLetterTopic, fixture, timeout: .seconds(120))
        var lettered: [Int: Int] = [:]
        var observed: [Poison: Set<String>] = [:]
        for letter in letters {
            func header(_ name: String) -> String? { letter.headers.value(named: name).map { String(decoding: $0, as: UTF8.self) } }
            // A bare letter lost the tag with the source's headers; its source position names it.
            let position = header(DeadLetter.Header.partition).flatMap(Int32.init).flatMap { partition in
                header(DeadLetter.Header.offset).flatMap(Int64.init).map {
                    KafkaTopicPartitionOffset(topic: header(DeadLetter.Header.topic) ?? "", partition: partition, offset: KafkaOffset($0))
                }
            }
            guard let id = header(Self.tag).flatMap(Int.init) ?? position.flatMap({ atSource[$0] }), let kind = poison.made[id], let source = origin[id] else {
                Issue.record("a dead letter that is not poison: reason \(header(DeadLetter.Header.reason) ?? "none"), \(header(DeadLetter.Header.error) ?? "")")
                continue
            }
            lettered[id, default: 0] += 1
            let reason = header(DeadLetter.Header.reason) ?? "none"
            observed[kind, default: []].insert(reason)
            #expect(kind.reasons.contains(reason), "poison \(id) (\(kind)) dead-lettered as \(reason): \(header(DeadLetter.Header.error) ?? "")")
            #expect(header(DeadLetter.Header.topic) == fixture.topic)
            #expect(header(DeadLetter.Header.partition) == String(source.partition) && header(DeadLetter.Header.offset) == String(source.offset),
                    "poison \(id) (\(kind)) names the wrong source")
            // Too large for the dead-letter topic, an oversize value is left out and its size
            // named; a letter too large even so goes bare, the key's size named too.
            let dropped = header(DeadLetter.Header.valueDropped)
            if kind == .oversizeKey {
                #expect(letter.key == nil && letter.value == nil && header(DeadLetter.Header.keyDropped) == String(source.key?.count ?? 0)
                        && dropped == String(source.value?.count ?? 0), "poison \(id) (\(kind)) must be dead-lettered bare, sizes named")
                continue
            }
            #expect(letter.key == source.key, "poison \(id) (\(kind)) must keep its key")
            #expect(letter.value == source.value || (kind == .oversize && letter.value == nil && dropped == String(source.value?.count ?? 0)),
                    "poison \(id) (\(kind)) must be dead-lettered unchanged")
        }
        #expect(Set(observed.keys) == Set(Poison.allCases), "kinds never dead-lettered: \(Set(Poison.allCases).subtracting(observed.keys))")
        #expect(statistics.deadLettered == poisonCount)

        let lost = wrongRows + (poisonCount - lettered.count)
        // A good change applied twice would show as a wrong row, counted above.
        let duplicated = lettered.values.reduce(0) { $0 + $1 - 1 }
        #expect(statistics.duplicates == 0, "nothing here is a resend")
        #expect(lost == 0)
        #expect(duplicated == 0)
        try ScenarioReport.record(ScenarioOutcome(scenario: "6 poison input", runs: poisonCount, contracts: total, lost: lost, duplicated: duplicated, converge: converge))
    }
}
