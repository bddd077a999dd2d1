import CRDKafka
import Testing
@testable import PumphouseKafka

/// The partitioner must place every key where librdkafka's default partitioner does, so
/// librdkafka's own function is the oracle.
@Suite("Key partitioner")
struct KafkaKeyPartitionerTests {
    @Test("agrees with librdkafka's consistent partitioner on keys of every length and byte", arguments: [1, 2, 3, 4, 7, 12, 64, 1000] as [Int32])
    func matchesLibrdkafka(partitions: Int32) {
        var generator = SystemRandomNumberGenerator()
        var keys: [[UInt8]] = [[0], [0xFF], Array("acc-1".utf8), Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8), [UInt8](repeating: 0x61, count: 300)]
        for length in 1...64 {
            keys.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        let partitioner = KafkaKeyPartitioner(partitionCount: partitions)
        for key in keys {
            let expected = key.withUnsafeBytes { rd_kafka_msg_partitioner_consistent(nil, $0.baseAddress, $0.count, partitions, nil, nil) }
            #expect(partitioner.partition(ofKey: key) == expected, "key \(key)")
        }
    }

    @Test("one partition takes every key")
    func onePartition() {
        #expect(KafkaKeyPartitioner(partitionCount: 1).partition(ofKey: "anything") == 0)
    }

    @Test("a key as text is placed by its UTF-8 bytes: canonically equal spellings may part")
    func textKeysAreBytes() {
        let partitioner = KafkaKeyPartitioner(partitionCount: 1000)
        #expect(partitioner.partition(ofKey: "caf\u{E9}") == partitioner.partition(ofKey: Array("caf\u{E9}".utf8)))
        #expect(partitioner.partition(ofKey: "cafe\u{301}") == partitioner.partition(ofKey: Array("cafe\u{301}".utf8)))
        #expect(partitioner.partition(ofKey: "caf\u{E9}") != partitioner.partition(ofKey: "cafe\u{301}"))
    }

    @Test("CRC-32 check value")
    func crcCheckValue() {
        #expect(Array("123456789".utf8).withUnsafeBytes { KafkaKeyPartitioner.crc32($0) } == 0xCBF4_3926)
    }
}
