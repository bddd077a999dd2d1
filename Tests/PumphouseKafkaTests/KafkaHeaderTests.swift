import PumphouseKafka
import Testing

@Suite("Kafka headers are told apart by their bytes")
struct KafkaHeaderTests {
    @Test("a name Swift deems equal but spelt with other bytes (KELVIN SIGN for K) is another header; the last of repeated names wins")
    func byBytes() {
        let kelvin = KafkaHeader(name: "\u{212A}ind", string: "kelvin")
        let plain = KafkaHeader(name: "Kind", string: "plain")
        // The premise: Swift's String equality takes the two names for one.
        #expect(kelvin.name == plain.name)
        #expect(kelvin != plain)
        #expect(Set([kelvin, plain]).count == 2)
        #expect([kelvin].value(named: "Kind") == nil)
        #expect([plain, kelvin].value(named: "Kind") == Array("plain".utf8))
        #expect([plain, KafkaHeader(name: "Kind", string: "later")].value(named: "Kind") == Array("later".utf8))
    }
}
