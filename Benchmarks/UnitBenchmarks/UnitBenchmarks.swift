import Benchmark
import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit
import Synchronization

/// The local stack's pipeline, its producers at the pump's own settings: the file's
/// `producer_properties` (a 5 ms linger for the samples) would change what the put's
/// neighbours on the other core do from run to run of these figures.
func localPipeline() -> PipelineConfiguration {
    var pipeline = try! PipelineConfiguration.load(path: "deploy/local/pipeline.yaml")
    pipeline.kafka.producerProperties = [:]
    return pipeline
}

/// A unit on the local stack's pipeline (`make bench` starts the stack), not run:
/// put-plus-enqueue is what the request path pays.
func openUnit(_ id: String) -> ProcessingUnit {
    let pipeline = localPipeline()
    let spool = FileManager.default.temporaryDirectory.appendingPathComponent("pumphouse-bench-\(UUID().uuidString)").path
    var configuration = UnitConfiguration(pipeline: pipeline, unitID: id, address: "127.0.0.1:0", spoolDirectory: spool)
    // Room for a few seconds of unacknowledged changes at full speed.
    configuration.spoolMaxPendingBytes = 2 << 30
    let unit = try! ProcessingUnit(configuration: configuration, logger: Logger(label: "bench"))
    openedUnits.withLock { $0.append(unit) }
    return unit
}

/// Every unit and producer opened so far, for `settle`.
let openedUnits = Mutex<[ProcessingUnit]>([])
let openedProducers = Mutex<[KafkaProducer]>([])

/// Waits until the broker has acknowledged every change of every unit and producer
/// opened so far, at most a minute each. A put benchmark leaves hundreds of thousands of changes for the pump
/// to send after it ends; without this, the next benchmark's wall clock counts the
/// sending thread and librdkafka draining them on the same two cores (the replica
/// apply measured 1,425 ns after the puts and 628 ns alone).
func settle() async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    for unit in openedUnits.withLock({ $0 }) {
        while unit.unacknowledgedChanges > 0 {
            guard ContinuousClock.now < deadline else {
                throw BenchmarkSetupFailure(description: "a unit still had \(unit.unacknowledgedChanges) unacknowledged changes after 60 s: is the stack's memory broker up?")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
    for producer in openedProducers.withLock({ $0 }) {
        try await producer.flush(timeout: .seconds(60))
    }
}

struct BenchmarkSetupFailure: Error, CustomStringConvertible {
    let description: String
}

/// A cache of 10,000 accounts of `Account`'s kind on a unit of its own: a unit opens
/// each contract with one Swift type.
func accountCache<Account: CacheEntity>(_ unitID: String, _ make: (String, Int64) -> Account) -> (ProcessingUnit, ReplicatedCache<Account>) {
    let unit = openUnit(unitID)
    let accounts = try! unit.cache(Account.self)
    for index in 0..<10_000 { try! accounts.put(make("acc-\(index)", 100)) }
    return (unit, accounts)
}

// Globals outside main.swift start lazily: a unit opens only when a benchmark uses it.
/// The hand-written entity's cache.
let (unit, accounts) = accountCache("bench-unit") { BenchAccount(id: $0, balance: $1) }
/// The same accounts as a Codable entity converted by `@CacheFields`.
let (codableUnit, codableAccounts) = accountCache("bench-unit-codable") { BenchCodableAccount(id: $0, balance: $1) }
/// The same accounts as a `CodableCacheEntity` without the macro.
let (codableDefaultUnit, codableDefaultAccounts) = accountCache("bench-unit-codable-default") { BenchCodableDefaultAccount(id: $0, balance: $1) }

/// The floor under a put's allocations: one change, encoded beforehand as a put encodes
/// it, and a producer with the pump's settings (idempotent, acks=all, linger 1 ms, no
/// message timeout) to the same topic. librdkafka allocates each message, each of its
/// headers and each delivery report itself, and a put's change pays that too.
let (floorProducer, floorMessage): (KafkaProducer, KafkaProducerMessage) = {
    let pipeline = localPipeline()
    var configuration = KafkaProducerConfiguration(connection: pipeline.kafka)
    configuration.messageTimeout = .zero
    configuration.linger = .milliseconds(1)
    let producer = try! KafkaProducer(configuration: configuration, logger: Logger(label: "bench"))
    openedProducers.withLock { $0.append(producer) }
    let change = Contract(
        name: BenchAccount.contract, version: 2, action: .add, key: "acc-1", origin: "bench-floor", sequence: 1, eventTime: 0,
        fields: BenchAccount(id: "acc-1", balance: 1).fields
    )
    let encoded = try! ContractCodec().encode(change)
    let message = KafkaProducerMessage(
        topic: pipeline.cache(BenchAccount.contract)!.topic, partition: 0, key: Array(encoded.key.utf8), value: encoded.value,
        headers: encoded.headers.map { KafkaHeader(name: $0.name, value: Array($0.value.utf8)) }
    )
    return (producer, message)
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // Allocations per operation are the figure to gate on: timings vary too much on
        // a small shared machine.
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        // Whole nanoseconds in the exported percentiles (automatic units round a 5.4 µs
        // median to 5 µs, deciding a 5 µs target).
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        // `make bench-smoke` only checks that every benchmark still runs.
        maxDuration: ProcessInfo.processInfo.environment["PUMPHOUSE_BENCH_SMOKE"] == nil ? .seconds(3) : .milliseconds(100),
        // Allocations are checked against Benchmarks/Thresholds (Benchmarks/micro/run),
        // per 1,000 operations. A change's allocations are counted with those of the
        // process's other threads at the time (librdkafka's, the pump's sender, the
        // spool's writer), which vary with timing and with how long the run is (p90 of
        // 27 to 29 per put across runs), so five per operation of slack either way: a
        // whole new representation of the change still shows.
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 5_000])]
    )

    // What runs on the calling thread alone (a read, a peer's applied change, an entity's
    // conversion) allocates the same every time: any allocation more is a regression.
    var exact = Benchmark.defaultConfiguration
    exact.thresholds = [.mallocCountTotal: .init(absolute: [.p90: 100])]

    Benchmark("Cache get", configuration: exact) { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            blackHole(accounts["acc-\(index)"])
        }
    } setup: {
        _ = accounts
        try await settle()
    }

    Benchmark("Cache put (whole entity + spool + enqueue)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try accounts.put(BenchAccount(id: "acc-\(index)", balance: Int64(index)))
        }
    } setup: {
        _ = accounts
        try await settle()
    }

    // What librdkafka alone allocates per change a put sends (see `floorProducer`): the
    // part of a put's allocations no change path can remove while a change carries its
    // five headers. A full queue is waited out as the pump's sender does.
    Benchmark("Produce one encoded change (librdkafka, pump settings)") { benchmark in
        for _ in benchmark.scaledIterations {
            while true {
                do {
                    try floorProducer.send(floorMessage)
                    break
                } catch let error as KafkaError where error.code == .queueFull {
                    Thread.sleep(forTimeInterval: 0.001)
                }
            }
        }
    } setup: {
        _ = floorProducer
        try await settle()
    }

    // An entity's conversion alone, as a put pays it: `fields`, then `init(fields:)`
    // from them. No unit is opened, so these run without the stack.
    Benchmark("Entity conversion (hand-written)", configuration: exact) { benchmark in
        let account = BenchAccount(id: "acc-1", balance: 42)
        for _ in benchmark.scaledIterations {
            blackHole(try BenchAccount(fields: account.fields))
        }
    }

    Benchmark("Entity conversion (@CacheFields)", configuration: exact) { benchmark in
        let account = BenchCodableAccount(id: "acc-1", balance: 42)
        for _ in benchmark.scaledIterations {
            blackHole(try BenchCodableAccount(fields: try account.fields))
        }
    }

    Benchmark("Entity conversion (Codable without macro)", configuration: exact) { benchmark in
        let account = BenchCodableDefaultAccount(id: "acc-1", balance: 42)
        for _ in benchmark.scaledIterations {
            blackHole(try BenchCodableDefaultAccount(fields: try account.fields))
        }
    }

    // What `CodableCacheEntity` did before: Foundation's coders and JSON text both ways.
    Benchmark("Entity conversion (Foundation JSON text)", configuration: exact) { benchmark in
        let account = BenchCodableDefaultAccount(id: "acc-1", balance: 42)
        for _ in benchmark.scaledIterations {
            guard case .object(let fields) = try JSONParser().parse(Array(JSONEncoder().encode(account))) else { fatalError("not an object") }
            blackHole(try JSONDecoder().decode(BenchCodableDefaultAccount.self, from: Data(try JSONWriter.encode(.object(fields)))))
        }
    }

    // The same put as above with the conversion `@CacheFields` writes for a Codable
    // entity; the target is at most 1.5x the hand-written put.
    Benchmark("Cache put (Codable entity)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try codableAccounts.put(BenchCodableAccount(id: "acc-\(index)", balance: Int64(index)))
        }
    } setup: {
        _ = codableAccounts
        try await settle()
    }

    // And through the type's own Codable conformance (no macro, no JSON text).
    Benchmark("Cache put (Codable entity without macro)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try codableDefaultAccounts.put(BenchCodableDefaultAccount(id: "acc-\(index)", balance: Int64(index)))
        }
    } setup: {
        _ = codableDefaultAccounts
        try await settle()
    }

    // A peer's changes as the unit's consumer hands them over, decoded: a delta and a
    // changed field, on 10,000 accounts the peer opened. (Not on the accounts this unit
    // put: the unit does not run here, so its own changes never come back and stay
    // pending, and every peer change would replay them all.) Offsets and sequences keep
    // rising across runs.
    let peerOffset = Atomic<Int64>(0)
    for index in 0..<10_000 {
        let open = BenchAccount(id: "peer-\(index)", balance: 100)
        let offset = peerOffset.add(1, ordering: .relaxed).newValue
        _ = accounts.apply(
            Contract(name: BenchAccount.contract, version: 2, action: .add, key: open.id, origin: "bench-peer", sequence: offset, eventTime: 0, fields: open.fields),
            partition: 0, offset: offset
        )
    }
    let peerChanges: [Contract] = (0..<10_000).map { index in
        Contract(
            name: BenchAccount.contract, version: 2, action: .update, key: "peer-\((index &* 7) % 10_000)", origin: "bench-peer",
            sequence: 0, eventTime: 0, fields: ["status": .string(index % 2 == 0 ? "open" : "frozen")], deltas: ["balance": .int(1)]
        )
    }
    Benchmark("Replica apply (decoded peer change)", configuration: exact) { benchmark in
        var offset = peerOffset.load(ordering: .relaxed)
        for iteration in benchmark.scaledIterations {
            var change = peerChanges[iteration % peerChanges.count]
            offset += 1
            change.sequence = offset
            _ = accounts.apply(change, partition: 0, offset: offset)
        }
        peerOffset.store(offset, ordering: .relaxed)
    } setup: {
        _ = accounts
        try await settle()
    }

    Benchmark("Cache increment (delta + spool + enqueue)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try accounts.increment("acc-\(index)", "balance", by: 1)
        }
    } setup: {
        _ = accounts
        try await settle()
    }
}
