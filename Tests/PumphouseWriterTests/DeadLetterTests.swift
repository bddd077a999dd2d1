import PumphouseKafka
import Testing

@testable import PumphouseWriter

@Suite("Dead letters")
struct DeadLetterTests {
    let letter = DeadLetter(
        message: KafkaMessage(
            topic: "shop.orders", partition: 2, offset: 41, key: Array("order-7".utf8), value: Array(#"{"x":1}"#.utf8),
            headers: [KafkaHeader(name: "ph-contract", string: "shop.Order")]
        ),
        reason: "invalid-payload", detail: String(repeating: "d", count: 5_000)
    )

    func headers(_ message: KafkaProducerMessage) -> [String: String] {
        Dictionary(message.headers.map { ($0.name, $0.stringValue ?? "") }) { first, _ in first }
    }

    @Test("whole: the source message unchanged, with where it came from and why")
    func whole() {
        let sent = letter.producerMessage(topic: "dlq", writer: "w", content: .whole)
        #expect(sent.topic == "dlq" && sent.partition == 0)
        #expect(sent.key == letter.message.key && sent.value == letter.message.value)
        let named = headers(sent)
        #expect(named["ph-contract"] == "shop.Order")
        #expect(named[DeadLetter.Header.reason] == "invalid-payload" && named[DeadLetter.Header.writer] == "w")
        #expect(named[DeadLetter.Header.topic] == "shop.orders" && named[DeadLetter.Header.partition] == "2" && named[DeadLetter.Header.offset] == "41")
        #expect(named[DeadLetter.Header.error]?.count == 1024, "the detail is cut to 1 KiB")
        #expect(named[DeadLetter.Header.valueDropped] == nil && named[DeadLetter.Header.keyDropped] == nil)
    }

    @Test("without value: key and source headers kept, the value's size named")
    func withoutValue() {
        let sent = letter.producerMessage(topic: "dlq", writer: "w", content: .withoutValue)
        #expect(sent.key == letter.message.key && sent.value == nil)
        let named = headers(sent)
        #expect(named["ph-contract"] == "shop.Order")
        #expect(named[DeadLetter.Header.valueDropped] == "7" && named[DeadLetter.Header.keyDropped] == nil)
    }

    @Test("bare: only the ph-dlq headers, the key's and value's sizes named; the source position leads to the rest")
    func bare() {
        let sent = letter.producerMessage(topic: "dlq", writer: "w", content: .bare)
        #expect(sent.key == nil && sent.value == nil)
        let named = headers(sent)
        #expect(named["ph-contract"] == nil, "the source's own headers are left out")
        #expect(named.keys.allSatisfy { $0.hasPrefix("ph-dlq-") })
        #expect(named[DeadLetter.Header.valueDropped] == "7" && named[DeadLetter.Header.keyDropped] == "7")
        #expect(named[DeadLetter.Header.topic] == "shop.orders" && named[DeadLetter.Header.partition] == "2" && named[DeadLetter.Header.offset] == "41")
    }

    @Test("a letter is tried whole, then without its value, then bare")
    func order() {
        #expect(DeadLetter.Content.allCases == [.whole, .withoutValue, .bare])
    }
}
