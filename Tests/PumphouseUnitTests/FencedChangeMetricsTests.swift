import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import Testing

/// Every consumer of a partitioned cache counts a deposed owner's change and gives it no
/// effect; for a unit that is `pumphouse_unit_fenced_changes_total`, per unit, cache and
/// partition. The log is written by a plain producer, as units would write it.
@Suite("A unit counts the changes ownership fenced", .localStack, .removingWhatItMakes, .serialized, .timeLimit(.minutes(2)))
struct FencedChangeMetricsTests {
    static let contract = BenchAccount.contract

    /// `base` with the shortest suffix that murmur2 places in `partition` of 2.
    static func key(_ base: String, in partition: Int32) -> String {
        let partitioner = KafkaKeyPartitioner(partitionCount: 2, scheme: .murmur2)
        return (0...).lazy.map { "\(base)-\($0)" }.first { partitioner.partition(ofKey: $0) == partition }!
    }

    static func change(_ key: String, origin: String, sequence: Int64, term: Int64, topic: String) throws -> KafkaProducerMessage {
        let fields: JSONObject = [
            "id": .string(key), "owner": .string("o"), "balance": .int(7), "currency": .string("EUR"), "status": .string("open"),
            "updatedAt": .int(1_763_700_000_000),
        ]
        let contract = Contract(
            name: contract, version: 2, action: .add, key: key, origin: origin, sequence: sequence, eventTime: 1_763_700_000_000,
            ownershipTerm: term, fields: fields
        )
        let encoded = try ContractCodec().encode(contract)
        return KafkaProducerMessage(
            topic: topic, partition: 0, key: Array(encoded.key.utf8), value: encoded.value,
            headers: encoded.headers.map { KafkaHeader(name: $0.name, string: $0.value) }
        )
    }

    /// A claim of partition 0 by `owner` under term 1, as a unit would write it.
    static func claim(by owner: String, topic: String) -> KafkaProducerMessage {
        let claim = OwnershipClaim(cache: contract, partition: 0, term: 1, owner: owner, claimedAt: 1_763_700_000_000)
        return KafkaProducerMessage(topic: topic, partition: 0, key: claim.key, value: claim.encoded(), headers: claim.headers.map { KafkaHeader(name: $0.name, value: $0.value) })
    }

    /// Writes `messages` in order with a plain producer, each acknowledged before the next.
    static func write(_ messages: [KafkaProducerMessage], _ fixture: UnitFixture) async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(connection: fixture.pipeline.kafka), logger: UnitFixture.logger)
        for message in messages { _ = try await producer.deliver(message) }
        try await producer.shutdown()
    }

    @Test("a change from a unit that does not hold the partition's latest claim is counted as fenced on the unit that reads it, in its partition only, and takes no effect there")
    func fencedCounted() async throws {
        // Before the unit, so its counters are the test backend's.
        TestMetricsBackend.bootstrap()
        let fixture = try await UnitFixture(partitions: 2, mode: "partitioned")
        try await fixture.prepare()
        let owned = Self.key("owned", in: 0)
        let fenced = [Self.key("fenced", in: 0), Self.key("fenced-too", in: 0)]
        try await Self.write([
            Self.claim(by: "ghost-a", topic: fixture.topic),
            try Self.change(owned, origin: "ghost-a", sequence: 1, term: 1, topic: fixture.topic),
            try Self.change(fenced[0], origin: "ghost-b", sequence: 1, term: 1, topic: fixture.topic),
            try Self.change(fenced[1], origin: "ghost-b", sequence: 2, term: 1, topic: fixture.topic),
        ], fixture)

        let unit = try fixture.unit("reader")
        let cache = try unit.cache(BenchAccount.self)
        try await running([unit]) {
            // Loaded from the topic: every record above is applied by now.
            #expect(cache.read(owned).value != nil, "the owner's change took effect: \(cache.read(owned)); \(cache.count) entities; routing \(String(describing: unit.routingTable(of: Self.contract)))")
            for key in fenced { #expect(cache.read(key).value == nil, "the fenced change \(key) took no effect") }
        }
        let dimensions = { (partition: Int) in [("unit", unit.id), ("cache", Self.contract.rawValue), ("partition", String(partition))] }
        #expect(TestMetricsBackend.counter("pumphouse_unit_fenced_changes_total", dimensions(0)) == 2)
        #expect(TestMetricsBackend.counter("pumphouse_unit_fenced_changes_total", dimensions(1)) == 0)
    }

    @Test("a change in the wrong partition after that partition's first claim is fenced where it arrived, as the writers fence it: the unit loads, counts it there, and its number counts there (the owner's lower number after it is a duplicate, a higher one applies)")
    func misplacedAfterClaim() async throws {
        TestMetricsBackend.bootstrap()
        let fixture = try await UnitFixture(partitions: 2, mode: "partitioned")
        try await fixture.prepare()
        let stray = Self.key("stray", in: 1)
        let (late, next) = (Self.key("late", in: 0), Self.key("next", in: 0))
        try await Self.write([
            Self.claim(by: "ghost-a", topic: fixture.topic),
            try Self.change(stray, origin: "ghost-a", sequence: 5, term: 1, topic: fixture.topic),
            try Self.change(late, origin: "ghost-a", sequence: 3, term: 1, topic: fixture.topic),
            try Self.change(next, origin: "ghost-a", sequence: 6, term: 1, topic: fixture.topic),
        ], fixture)

        let unit = try fixture.unit("reader")
        let cache = try unit.cache(BenchAccount.self)
        try await running([unit]) {
            #expect(cache.read(stray).value == nil, "the misplaced change took no effect")
            #expect(cache.read(late).value == nil, "a number at or below the stray's is a duplicate in its partition")
            #expect(cache.read(next).value != nil, "the owner's next number applies")
        }
        let dimensions = { (partition: Int) in [("unit", unit.id), ("cache", Self.contract.rawValue), ("partition", String(partition))] }
        #expect(TestMetricsBackend.counter("pumphouse_unit_fenced_changes_total", dimensions(0)) == 1)
        #expect(TestMetricsBackend.counter("pumphouse_unit_fenced_changes_total", dimensions(1)) == 0)
    }
}
