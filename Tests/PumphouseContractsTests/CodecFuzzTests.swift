import PropertyBased
import PumphouseContracts
import PumphouseTestSupport
import Synchronization
import Testing

/// The codec sits first on every writer's intake, so any input a broker can hold must
/// end in a contract or a typed error: a trap there stops the pipeline for everyone.
@Suite("Contract codec under fuzzed input")
struct CodecFuzzTests {
    typealias Headers = [(name: String, value: [UInt8]?)]

    let codec = ContractCodec()

    /// What a run saw, so each test can also show that it reached the paths it means to.
    final class Tally: Sendable {
        private let state = Mutex<(codes: [String: Int], decoded: Int, slowest: Duration)>(([:], 0, .zero))

        func record(_ code: String?, _ elapsed: Duration) {
            state.withLock {
                if let code { $0.codes[code, default: 0] += 1 } else { $0.decoded += 1 }
                $0.slowest = max($0.slowest, elapsed)
            }
        }

        var codes: [String: Int] { state.withLock { $0.codes } }
        var decoded: Int { state.withLock { $0.decoded } }
        var slowest: Duration { state.withLock { $0.slowest } }
    }

    /// Decodes once: a contract must encode again and decode to itself; a failure must
    /// be a ContractError with a code and a description.
    func check(key: [UInt8]?, value: [UInt8]?, headers: Headers, seed: UInt64, into tally: Tally) {
        let started = ContinuousClock.now
        let contract: Contract
        do {
            contract = try codec.decode(key: key, value: value, headers: headers)
        } catch {
            tally.record(error.code, ContinuousClock.now - started)
            #expect(!error.code.isEmpty && !error.description.isEmpty, "seed \(seed)")
            return
        }
        tally.record(nil, ContinuousClock.now - started)
        do {
            let encoded = try codec.encode(contract)
            let again = try codec.decode(key: Array(encoded.key.utf8), value: encoded.value, headers: encoded.headers.map { ($0.name, Array($0.value.utf8)) })
            #expect(again == contract, "seed \(seed): the round trip changed the contract")
        } catch {
            Issue.record("seed \(seed): decoded \(contract) but it does not encode and decode again: \(error)")
        }
    }

    /// Decodes `count` inputs, each built by `make` from its case's seed and a generator
    /// seeded with it (nil skips the case), and tallies them. The cases' base seed is
    /// printed under this test's name.
    func decodeFuzzed(
        _ count: Int, test: String = #function, _ make: (UInt64, inout SplitMix) throws -> (key: [UInt8]?, value: [UInt8]?, headers: Headers)?
    ) async -> Tally {
        let tally = Tally()
        await CaseSeeds.check(count: count, "CodecFuzzTests/\(test.prefix { $0 != "(" })") { seed in
            var rng = SplitMix(state: seed)
            guard let input = try make(seed, &rng) else { return }
            check(key: input.key, value: input.value, headers: input.headers, seed: seed, into: tally)
        }
        return tally
    }

    /// A valid encoding of a random contract, as the broker would hand it over.
    static func valid(seed: UInt64) throws -> (key: [UInt8], value: [UInt8], headers: Headers) {
        let encoded = try ContractCodec().encode(RandomContracts.contract(seed: seed))
        return (Array(encoded.key.utf8), encoded.value, encoded.headers.map { ($0.name, Array($0.value.utf8)) })
    }

    @Test("random bytes as key, value and headers end in a typed error, never a trap")
    func randomBytes() async throws {
        let tally = await decodeFuzzed(5_000) { _, rng in
            let value = Int.random(in: 0..<20, using: &rng) == 0 ? nil : ByteMutations.random(&rng, maxLength: 512)
            let key = Bool.random(using: &rng) ? ByteMutations.random(&rng, maxLength: 16) : nil
            let headers: Headers = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                ([ContractCodec.Header.contract, ContractCodec.Header.sequence, "x-other"].randomElement(using: &rng)!, ByteMutations.random(&rng, maxLength: 8))
            }
            return (key, value, headers)
        }
        #expect(tally.codes["invalid-json", default: 0] > 0)
        #expect(tally.slowest < .seconds(10), "slowest decode took \(tally.slowest)")
    }

    @Test("mutated valid encodings (bit flips, insertions, deletions, duplicated slices, cuts) decode and round-trip or fail typed")
    func mutatedBodies() async throws {
        let tally = await decodeFuzzed(10_000) { seed, rng in
            guard let message = try? Self.valid(seed: seed) else { return nil }
            let body = ByteMutations.mutate(message.value, &rng)
            // With and without headers: without them, bodies whose mutation kept them
            // decodable reach the envelope checks instead of a header mismatch.
            return (message.key, body, Bool.random(using: &rng) ? message.headers : [])
        }
        let codes = tally.codes
        #expect(Set(codes.keys).isSuperset(of: ["invalid-json", "invalid-envelope"]), "\(codes)")
        #expect(codes["invalid-utf8", default: 0] > 0, "no mutation produced invalid UTF-8 inside a string: \(codes)")
        #expect(tally.decoded > 0, "no mutation survived decoding, so the round trip was never exercised")
        #expect(tally.slowest < .seconds(10), "slowest decode took \(tally.slowest)")
    }

    @Test("mutated keys and headers (dropped, contradicting, duplicated, invalid UTF-8, absent values) decode or fail typed")
    func mutatedKeysAndHeaders() async throws {
        let tally = await decodeFuzzed(5_000) { seed, rng in
            guard var message = try? Self.valid(seed: seed) else { return nil }
            var key: [UInt8]? = message.key
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: key = nil
            case 1: key = ByteMutations.mutate(message.key, &rng)
            default: break
            }
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !message.headers.isEmpty {
                let index = Int.random(in: 0..<message.headers.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: message.headers.remove(at: index)
                case 1: message.headers[index].value = message.headers[index].value.map { ByteMutations.mutate($0, &rng) }
                case 2: message.headers[index].value = nil
                case 3: message.headers.append(message.headers[index])
                default: message.headers[index].value = (message.headers[index].value ?? []) + [0xC3]
                }
            }
            return (key, message.value, message.headers)
        }
        let codes = tally.codes
        #expect(Set(codes.keys).isSuperset(of: ["key-mismatch", "header-mismatch"]), "\(codes)")
        #expect(tally.decoded > 0, "\(codes)")
    }

    /// Inputs built to cost a parser time or memory; named, so a failure names the shape.
    static let hostileShapes: [String: @Sendable () -> String] = [
        "nested arrays": { String(repeating: "[", count: 100_000) },
        "nested objects": { String(repeating: "{\"a\":", count: 50_000) },
        "a 400k-digit number": { "{\"contract\":\"bench.Account\",\"version\":" + String(repeating: "9", count: 400_000) + "}" },
        "an exponent beyond Double": { "{\"contract\":\"bench.Account\",\"version\":1e999999}" },
        "a long escaped string": { "{\"key\":\"" + String(repeating: "\\u00e9", count: 150_000) + "\"}" },
        "many distinct members": { "{\"fields\":{" + (0..<40_000).map { "\"m\($0)\":0" }.joined(separator: ",") + "}}" },
        "many members alike in length and first byte": { "{\"fields\":{" + (0..<80_000).map { "\"a\(100_000 + $0)\":0" }.joined(separator: ",") + "}}" },
        "a body one byte over the limit": { "\"" + String(repeating: "x", count: 1 << 20) },
    ]

    @Test("hostile shapes cost bounded time and end in a typed error", arguments: hostileShapes.keys.sorted())
    func hostileShape(name: String) throws {
        let body = Array(Self.hostileShapes[name]!().utf8)
        let started = ContinuousClock.now
        let error = try #require(throws: ContractError.self) { try codec.decode(key: Array("k".utf8), value: body) }
        let elapsed = ContinuousClock.now - started
        #expect(["invalid-json", "invalid-envelope", "oversize"].contains(error.code), "\(error)")
        #expect(elapsed < .seconds(20), "\(name) took \(elapsed)")
    }
}
