import PumphouseContracts
import PumphouseKafka
import Testing

@testable import PumphouseUnit

@Suite("Load ledger: who loads a cache in a cold start, by the reverse-pump topic's order")
struct LoadLedgerTests {
    /// Records as they stand on the topic, numbered from 0.
    struct Topic {
        var messages: [KafkaMessage] = []

        mutating func claim(_ request: String, by unit: String, _ kind: LoadClaim.Kind = .claim, at: Int64) {
            append(LoadClaim(kind: kind, request: request, unit: unit).message(topic: "t.reverse"), at: at)
        }

        mutating func reply(_ reply: ReverseReply, at: Int64) {
            let message = reply.message
            append(KafkaProducerMessage(topic: "t.reverse", key: Array(message.key.utf8), value: message.value, headers: message.headers.map { KafkaHeader(name: $0.name, string: $0.value) }), at: at)
        }

        private mutating func append(_ message: KafkaProducerMessage, at: Int64) {
            messages.append(KafkaMessage(
                topic: message.topic, partition: 0, offset: Int64(messages.count), key: message.key, value: message.value, headers: message.headers, timestampMilliseconds: at
            ))
        }

        func fold(lease: Duration = .seconds(15)) -> LoadLedger {
            var ledger = LoadLedger(lease: lease)
            for message in messages { ledger.read(message, at: message.timestampMilliseconds!) }
            return ledger
        }
    }

    static func end(_ request: String, rows: Int64) -> ReverseReply {
        .end(ReadEnd(request: request, rows: rows, offsets: [:], sequences: [:], snapshotTime: 0))
    }

    @Test("the first claim holds the load and later claims lose; the holder's answer, interleaved with renewals and other answers, finishes it where its first record is")
    func firstClaimWins() {
        var topic = Topic()
        topic.claim("a-1", by: "a", at: 1_000)
        topic.claim("b-1", by: "b", at: 1_001)
        #expect(topic.fold().holder == LoadLedger.Holder(request: "a-1", unit: "a", heardAt: 1_000))
        #expect(topic.fold().liveHolder(at: 16_000)?.unit == "a")
        // b's request was never claimed for a load: its answer (a partition re-read, say) is not one.
        topic.reply(.rows(request: "b-1", ReverseRows(key: [1], value: [2])), at: 2_000)
        topic.reply(Self.end("b-1", rows: 1), at: 2_001)
        #expect(topic.fold().finished == nil)
        topic.reply(.rows(request: "a-1", ReverseRows(key: [1], value: [2])), at: 3_000)
        topic.claim("a-1", by: "a", .renew, at: 4_000)
        topic.reply(Self.end("a-1", rows: 1), at: 5_000)
        let ledger = topic.fold()
        #expect(ledger.holder == nil)
        #expect(ledger.finished == LoadLedger.Finished(snapshot: CacheSnapshot(request: "a-1", offset: 4), unit: "a", at: 5_000))
    }

    @Test("a holder unheard for a lease has lapsed: the next claim wins; renewals and the answer's records keep it live")
    func lapse() {
        var topic = Topic()
        topic.claim("a-1", by: "a", at: 0)
        topic.claim("a-1", by: "a", .renew, at: 5_000)
        topic.reply(.rows(request: "a-1", ReverseRows(key: [1], value: [2])), at: 12_000)
        topic.claim("b-1", by: "b", at: 26_000)
        #expect(topic.fold().holder?.unit == "a", "heard at 12 s, so live until 27 s")
        #expect(topic.fold().liveHolder(at: 27_000)?.unit == "a")
        #expect(topic.fold().liveHolder(at: 27_001) == nil)
        topic.claim("c-1", by: "c", at: 27_001)
        #expect(topic.fold().holder?.unit == "c")
        // The lapsed holder comes back: its renewal does not take the load back from a live holder.
        topic.claim("a-1", by: "a", .renew, at: 28_000)
        #expect(topic.fold().holder?.unit == "c")
        // Its answer still ends a whole load, which the units may read.
        topic.reply(Self.end("a-1", rows: 0), at: 29_000)
        #expect(topic.fold().finished?.snapshot.request == "a-1")
        #expect(topic.fold().holder?.unit == "c")
    }

    @Test("a renewal read without its claim (the claim lay before the part read) holds the load as the claim would; a new holder supersedes an earlier finished load")
    func renewalWithoutClaim() {
        var topic = Topic()
        topic.claim("a-1", by: "a", at: 0)
        topic.reply(Self.end("a-1", rows: 0), at: 1_000)
        topic.claim("b-1", by: "b", .renew, at: 60_000)
        let ledger = topic.fold()
        #expect(ledger.holder?.unit == "b")
        #expect(ledger.finished == nil, "a load in progress makes the earlier one stale")
    }

    @Test("a refused load frees the claim for the next unit to ask; request ids are told apart by their bytes")
    func refusalAndBytes() {
        var topic = Topic()
        topic.claim("caf\u{E9}", by: "a", at: 0)
        topic.reply(.error(request: "caf\u{E9}", reason: "no cache"), at: 100)
        #expect(topic.fold().holder == nil)
        topic.claim("cafe\u{301}", by: "b", at: 200)
        // An answer to the canonically equivalent but different request is not b's.
        topic.reply(Self.end("caf\u{E9}", rows: 0), at: 300)
        #expect(topic.fold().holder?.unit == "b")
        #expect(topic.fold().finished == nil)
        topic.reply(Self.end("cafe\u{301}", rows: 0), at: 400)
        #expect(topic.fold().finished?.unit == "b")
    }
}
