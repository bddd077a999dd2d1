import CRDKafka
import Testing
@testable import PumphouseKafka

/// The partitioner must place every key where librdkafka's partitioner of the same name
/// does, so librdkafka's own functions are the oracle; Kafka's Java test vectors pin
/// murmur2 to what Java producers compute.
@Suite("Key partitioner")
struct KafkaKeyPartitionerTests {
    /// Keys of every length from 1 to 64 bytes (every tail of murmur2's four-byte words)
    /// and every byte value, plus a few that matter: non-ASCII, long, zero bytes.
    static func keys() -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        var keys: [[UInt8]] = [[0], [0xFF], Array("acc-1".utf8), Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8), [UInt8](repeating: 0x61, count: 300)]
        for length in 1...64 {
            keys.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        return keys
    }

    @Test("agrees with librdkafka's consistent partitioner on keys of every length and byte", arguments: [1, 2, 3, 4, 7, 12, 64, 1000] as [Int32])
    func matchesLibrdkafka(partitions: Int32) {
        let partitioner = KafkaKeyPartitioner(partitionCount: partitions)
        for key in Self.keys() {
            let expected = key.withUnsafeBytes { rd_kafka_msg_partitioner_consistent(nil, $0.baseAddress, $0.count, partitions, nil, nil) }
            #expect(partitioner.partition(ofKey: key) == expected, "key \(key)")
        }
    }

    @Test("agrees with librdkafka's murmur2 partitioner on keys of every length and byte", arguments: [1, 2, 3, 4, 7, 12, 64, 1000] as [Int32])
    func murmur2MatchesLibrdkafka(partitions: Int32) {
        let partitioner = KafkaKeyPartitioner(partitionCount: partitions, scheme: .murmur2)
        for key in Self.keys() {
            let expected = key.withUnsafeBytes { rd_kafka_msg_partitioner_murmur2(nil, $0.baseAddress, $0.count, partitions, nil, nil) }
            #expect(partitioner.partition(ofKey: key) == expected, "key \(key)")
        }
    }

    /// Kafka's own expectations for `Utils.murmur2` (signed, as Java prints them).
    @Test("murmur2 gives Kafka's Java test vectors", arguments: [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ] as [(String, Int32)])
    func murmur2JavaVectors(key: String, expected: Int32) {
        let hash = Array(key.utf8).withUnsafeBytes { KafkaKeyPartitioner.murmur2($0) }
        #expect(Int32(bitPattern: hash) == expected)
    }

    @Test("an empty key goes to partition 0 under either scheme", arguments: KafkaKeyPartitioner.Scheme.allCases)
    func emptyKey(scheme: KafkaKeyPartitioner.Scheme) {
        #expect(KafkaKeyPartitioner(partitionCount: 12, scheme: scheme).partition(ofKey: [UInt8]()) == 0)
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

    @Test("a partition key places a key by its part after the last separator, and only there: a key without one, or ending in one, is placed whole", arguments: [1, 4, 7, 64] as [Int32])
    func partitionKey(partitions: Int32) {
        let partitioner = KafkaKeyPartitioner(partitionCount: partitions, scheme: .murmur2, partitionKeyAfter: UInt8(ascii: "@"))
        let whole = KafkaKeyPartitioner(partitionCount: partitions, scheme: .murmur2)
        for index in 0..<200 {
            let auction = "auction-\(index)"
            #expect(partitioner.partition(ofKey: "bid-\(index * 7)@\(auction)") == whole.partition(ofKey: auction))
            #expect(partitioner.partition(ofKey: "a@b@\(auction)") == whole.partition(ofKey: auction))
            #expect(partitioner.partition(ofKey: auction) == whole.partition(ofKey: auction))
            #expect(partitioner.partition(ofKey: "\(auction)@") == whole.partition(ofKey: "\(auction)@"))
        }
        // The separator is a byte: the part after it is compared as bytes, composed or not.
        #expect(partitioner.partition(ofKey: Array("b@caf\u{E9}".utf8)) == whole.partition(ofKey: Array("caf\u{E9}".utf8)))
        #expect(partitioner.description == "murmur2 over the key after its last \"@\"")
        #expect(whole.description == "murmur2")
        #expect(partitioner != whole)
    }

    @Test("CRC-32 check value")
    func crcCheckValue() {
        #expect(Array("123456789".utf8).withUnsafeBytes { KafkaKeyPartitioner.crc32($0) } == 0xCBF4_3926)
    }
}
