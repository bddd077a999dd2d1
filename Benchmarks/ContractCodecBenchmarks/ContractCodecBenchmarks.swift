import Benchmark
import Foundation
import PumphouseContracts

/// A 10-field contract shaped like a real entity: strings, integers, a double, a
/// boolean and a null, with an update's worth of envelope around it.
let sample = Contract(
    name: try! ContractName("bench.Account"),
    version: 2,
    action: .add,
    key: "acc-000123",
    origin: "unit-7f3a",
    sequence: 1_234_567,
    baseVersion: 41,
    eventTime: 1_763_700_000_000,
    traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    fields: [
        "id": .string("acc-000123"),
        "owner": .string("Ada Lovelace"),
        "balance": .int(1_250_000),
        "currency": .string("EUR"),
        "status": .string("open"),
        "updatedAt": .int(1_763_700_000_000),
        "rate": .double(0.0375),
        "vip": .bool(true),
        "note": .null,
        "branch": .string("LDN-01"),
    ]
)

let codec = ContractCodec()
let encoded = try! codec.encode(sample)
/// As a consumer receives it: the key as bytes.
let receivedKey = Array(encoded.key.utf8)

/// The same 10 fields under a schema with the usual constraints (types, lengths, an
/// enum, a pattern, a bound), as a writer validates them on intake.
let validator = SchemaValidator(document: try! SchemaParser().parse(Array(#"""
    {"type":"object","additionalProperties":false,
     "required":["id","owner","balance","currency","status","updatedAt"],
     "properties":{"id":{"type":"string","minLength":1,"maxLength":64},"owner":{"type":"string","maxLength":200},
       "balance":{"type":"integer"},"currency":{"type":"string","pattern":"^[A-Z]{3}$"},
       "status":{"enum":["open","frozen","closed"]},"updatedAt":{"type":"integer","minimum":0},
       "rate":{"type":"number"},"vip":{"type":"boolean"},"note":{"type":["string","null"]},"branch":{"type":"string"}}}
    """#.utf8)))
let sampleFields = JSONValue.object(sample.fields)

/// Reads every member of a decoded contract, each field's name and value included, so a
/// decoder that put work off until a field is read could not look faster than it is.
func readEveryField(_ contract: Contract) -> Int {
    var sum = contract.name.rawValue.utf8.count &+ contract.version &+ contract.key.utf8.count &+ contract.origin.utf8.count
    sum &+= Int(truncatingIfNeeded: contract.sequence &+ (contract.baseVersion ?? 0) &+ contract.eventTime)
    sum &+= (contract.traceParent?.utf8.count ?? 0) &+ (contract.action == .add ? 1 : 0)
    for member in contract.fields {
        sum &+= member.name.utf8.count
        switch member.value {
        case .null: sum &+= 1
        case .bool(let value): sum &+= value ? 1 : 0
        case .int(let value): sum &+= Int(truncatingIfNeeded: value)
        case .double(let value): sum &+= Int(truncatingIfNeeded: value.bitPattern)
        case .string(let value): sum &+= value.utf8.count
        case .array(let items): sum &+= items.count
        case .object(let object): sum &+= object.count
        }
    }
    return sum &+ contract.deltas.count
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        // Whole nanoseconds in the exported percentiles (automatic units round a 5.4 µs
        // median to 5 µs, deciding a 5 µs target).
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        // `make bench-smoke` only checks that every benchmark still runs.
        maxDuration: ProcessInfo.processInfo.environment["PUMPHOUSE_BENCH_SMOKE"] == nil ? .seconds(3) : .milliseconds(100),
        // Allocations are checked against Benchmarks/Thresholds (Benchmarks/micro/run):
        // per 1,000 operations, so a tenth of an allocation per operation is noise and
        // one more is a regression.
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 100])]
    )

    // Decoding reads the body where it lies, as a consumer does from its client's buffer.
    Benchmark("Contract encode+decode (10 fields)") { benchmark in
        for _ in benchmark.scaledIterations {
            let bytes = try codec.encode(sample)
            let decoded = try receivedKey.withUnsafeBytes { key in
                try bytes.value.withUnsafeBytes { value in try codec.decode(key: key, value: value) }
            }
            blackHole(readEveryField(decoded))
        }
    }

    Benchmark("Contract encode (10 fields)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.encode(sample))
        }
    }

    Benchmark("Contract decode (10 fields)") { benchmark in
        for _ in benchmark.scaledIterations {
            let decoded = try receivedKey.withUnsafeBytes { key in
                try encoded.value.withUnsafeBytes { value in try codec.decode(key: key, value: value) }
            }
            blackHole(readEveryField(decoded))
        }
    }

    Benchmark("Payload validation (10 fields)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(validator.isValid(sampleFields))
        }
    }
}
