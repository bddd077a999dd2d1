import Benchmark
import Foundation
import Logging
import PumphouseContracts
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit
import Synchronization

/// One unit on the local stack's pipeline (`make bench` starts the stack), with a cache of
/// 10,000 accounts. The unit is not run: put-plus-enqueue is what the request path pays.
let (unit, accounts): (ProcessingUnit, ReplicatedCache<BenchAccount>) = {
    let pipeline = try! PipelineConfiguration.load(path: "deploy/local/pipeline.yaml")
    let spool = FileManager.default.temporaryDirectory.appendingPathComponent("pumphouse-bench-\(UUID().uuidString)").path
    var configuration = UnitConfiguration(pipeline: pipeline, unitID: "bench-unit", address: "127.0.0.1:0", spoolDirectory: spool)
    // Room for a few seconds of unacknowledged changes at full speed.
    configuration.spoolMaxPendingBytes = 2 << 30
    let unit = try! ProcessingUnit(configuration: configuration, logger: Logger(label: "bench"))
    let accounts = try! unit.cache(BenchAccount.self)
    for index in 0..<10_000 { try! accounts.put(BenchAccount(id: "acc-\(index)", balance: 100)) }
    return (unit, accounts)
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
        maxDuration: ProcessInfo.processInfo.environment["PUMPHOUSE_BENCH_SMOKE"] == nil ? .seconds(3) : .milliseconds(100)
    )

    Benchmark("Cache get") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            blackHole(accounts["acc-\(index)"])
        }
    }

    Benchmark("Cache put (whole entity + spool + enqueue)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try accounts.put(BenchAccount(id: "acc-\(index)", balance: Int64(index)))
        }
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
        accounts.apply(
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
    Benchmark("Replica apply (decoded peer change)") { benchmark in
        var offset = peerOffset.load(ordering: .relaxed)
        for iteration in benchmark.scaledIterations {
            var change = peerChanges[iteration % peerChanges.count]
            offset += 1
            change.sequence = offset
            accounts.apply(change, partition: 0, offset: offset)
        }
        peerOffset.store(offset, ordering: .relaxed)
    }

    Benchmark("Cache increment (delta + spool + enqueue)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try accounts.increment("acc-\(index)", "balance", by: 1)
        }
    }
}
