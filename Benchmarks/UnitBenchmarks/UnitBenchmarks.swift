import Benchmark
import Foundation
import Logging
import PumphouseContracts
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit

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
        metrics: [.wallClock, .throughput],
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

    Benchmark("Cache increment (delta + spool + enqueue)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            index = (index &+ 7) % 10_000
            try accounts.increment("acc-\(index)", "balance", by: 1)
        }
    }
}
