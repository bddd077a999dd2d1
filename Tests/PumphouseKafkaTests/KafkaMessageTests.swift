import PumphouseKafka
import Testing

@Suite("A consumed message keeps its key, value and headers as one copy of their bytes")
struct KafkaMessageTests {
    static let shapes: [(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader])] = [
        (nil, nil, []),
        ([], [], []),
        (Array("k".utf8), nil, [KafkaHeader(name: "absent", value: nil), KafkaHeader(name: "empty", value: [])]),
        (nil, [0, 255, 0], [KafkaHeader(name: "", value: [1])]),
        // Names Swift takes for one, and bytes that are no UTF-8 at all.
        (Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8), [KafkaHeader(name: "\u{212B}", string: "a"), KafkaHeader(name: "\u{C5}", string: "b")]),
        ([0xC3, 0x28], Array(repeating: 7, count: 70_000), (0..<300).map { KafkaHeader(name: "h\($0)", value: Array(repeating: UInt8($0 % 256), count: $0)) }),
    ]

    @Test("every shape reads back the same, as Swift values and lent in place")
    func roundTrip() {
        for shape in Self.shapes {
            let message = KafkaMessage(topic: "t", partition: 1, offset: 2, key: shape.key, value: shape.value, headers: shape.headers)
            #expect(message.key == shape.key)
            #expect(message.value == shape.value)
            #expect(message.headers == shape.headers)
            message.withUnsafeRecord { key, value, headers in
                #expect(key.map { Array($0) } == shape.key)
                #expect(value.map { Array($0) } == shape.value)
                #expect(headers.count == shape.headers.count)
                for (lent, header) in zip(headers, shape.headers) {
                    #expect(Array(lent.name) == Array(header.name.utf8))
                    #expect(lent.value.map { Array($0) } == header.value)
                }
            }
        }
    }

    @Test("messages are equal when their bytes are; changing one part keeps the others")
    func equalityAndChanges() {
        let shape = Self.shapes[4]
        let message = KafkaMessage(topic: "t", partition: 0, offset: 0, key: shape.key, value: shape.value, headers: shape.headers)
        let twin = KafkaMessage(topic: "t", partition: 0, offset: 0, key: shape.key, value: shape.value, headers: shape.headers)
        #expect(message == twin)
        #expect(Set([message, twin]).count == 1)
        // The key's other spelling (canonically equivalent) is another message.
        var respelt = message
        respelt.key = Array("cafe\u{301}".utf8)
        #expect(respelt != message)
        #expect(respelt.value == message.value && respelt.headers == message.headers)
        // Absent and empty are different values.
        var emptied = message
        emptied.value = []
        var absent = message
        absent.value = nil
        #expect(emptied != absent)
        #expect(emptied.value == [] && absent.value == nil)
        var renamed = message
        renamed.headers[0].name = "\u{C5}"
        #expect(renamed != message)
        #expect(renamed.key == message.key)
        // A copy is unaffected by a change to the original.
        var original = message
        let copy = original
        original.headers.append(KafkaHeader(name: "x", value: nil))
        #expect(copy.headers == shape.headers)
        #expect(original.headers.count == shape.headers.count + 1)
    }
}
