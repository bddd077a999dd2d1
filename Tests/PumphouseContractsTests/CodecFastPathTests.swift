import PropertyBased
@testable import PumphouseContracts
import PumphouseTestSupport
import Testing

/// The codec's fast paths (decoding where the bytes lie, short strings put together
/// from their bytes, numbers without text) must give exactly what the plain paths give.
@Suite("Codec fast paths")
struct CodecFastPathTests {
    let codec = ContractCodec()

    typealias Headers = [(name: String, value: [UInt8]?)]

    /// The outcome of a decode, as something two outcomes can be compared by.
    static func outcome(_ decode: () throws(ContractError) -> Contract) -> String {
        do {
            let contract = try decode()
            let encoded = try ContractCodec().encode(contract)
            return "\(contract) \(encoded.value)"
        } catch {
            return "\(error.code): \(error)"
        }
    }

    @Test("decoding from buffers gives what decoding from arrays gives, contract or error")
    func buffersAndArrays() async {
        await CaseSeeds.check(count: 1_000, "CodecFastPathTests/buffersAndArrays") { seed in
            var rng = SplitMix(state: seed)
            guard let encoded = try? codec.encode(RandomContracts.contract(seed: seed)) else { return }
            var key: [UInt8]? = Array(encoded.key.utf8)
            var value: [UInt8]? = encoded.value
            let headers: Headers = encoded.headers.map { ($0.name, Array($0.value.utf8)) }
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: key = nil
            case 1: value = nil
            case 2, 3: value = ByteMutations.mutate(encoded.value, &rng)
            default: break
            }
            let fromArrays = Self.outcome { () throws(ContractError) in try codec.decode(key: key, value: value, headers: headers) }
            let fromBuffers = Self.outcome { () throws(ContractError) in
                try withBytes(of: key) { (key) throws(ContractError) in
                    try withBytes(of: value) { (value) throws(ContractError) in try codec.decode(key: key, value: value, headers: headers) }
                }
            }
            #expect(fromArrays == fromBuffers, "seed \(seed)")
        }
    }

    @Test("JSON parses the same from a buffer as from an array")
    func parseBuffers() async {
        await CaseSeeds.check(count: 500, "CodecFastPathTests/parseBuffers") { seed in
            var rng = SplitMix(state: seed)
            guard var bytes = try? JSONWriter.encode(RandomContracts.json(&rng)) else { return }
            if Bool.random(using: &rng) { bytes = ByteMutations.mutate(bytes, &rng) }
            let fromArray = Result { () throws(JSONError) in try JSONParser().parse(bytes) }
            let fromBuffer = bytes.withUnsafeBytes { buffer in Result { () throws(JSONError) in try JSONParser().parse(buffer) } }
            #expect(fromArray == fromBuffer, "seed \(seed)")
        }
    }

    @Test("short ASCII strings put together from their bytes are the strings String(decoding:) makes")
    func smallStrings() async {
        guard SmallASCII.layoutHolds else { return }
        await CaseSeeds.check(count: 500, "CodecFastPathTests/smallStrings") { seed in
            var rng = SplitMix(state: seed)
            let bytes = (0..<Int.random(in: 0...SmallASCII.capacity, using: &rng)).map { _ in UInt8.random(in: 0...0x7F, using: &rng) }
            var low: UInt64 = 0, high: UInt64 = 0
            for (offset, byte) in bytes.enumerated() {
                if offset < 8 { low |= UInt64(byte) << (offset * 8) } else { high |= UInt64(byte) << ((offset - 8) * 8) }
            }
            let made = SmallASCII.string(low: low, high: high, count: bytes.count)
            let expected = String(decoding: bytes, as: UTF8.self)
            #expect(Array(made.utf8) == bytes && made == expected, "seed \(seed)")
            #expect(SmallASCII.words(of: expected).map { [$0.low, $0.high, UInt64($0.count)] } == [low, high, UInt64(bytes.count)], "seed \(seed)")
        }
        // Longer, non-ASCII and native strings are not taken for short ones.
        #expect(SmallASCII.words(of: String(repeating: "k", count: 16)) == nil)
        #expect(SmallASCII.words(of: "é") == nil)
        #expect(SmallASCII.words(of: String(decoding: Array("a native string, long".utf8), as: UTF8.self)) == nil)
    }

    @Test("doubles are written as Swift's description spells them, and read back to themselves")
    func doubles() async {
        await CaseSeeds.check(count: 2_000, "CodecFastPathTests/doubles") { seed in
            var rng = SplitMix(state: seed)
            // Short decimals of every scale (the writer's own path) and arbitrary doubles.
            let digits = Double(Int64.random(in: -999_999_999_999_999...999_999_999_999_999, using: &rng) >> Int.random(in: 0...50, using: &rng))
            let value = switch Int.random(in: 0..<3, using: &rng) {
            case 0: digits / [1, 10, 1e3, 1e6, 1e9, 1e15, 1e20][Int.random(in: 0..<7, using: &rng)]
            case 1: Double(bitPattern: UInt64.random(in: 0 ... .max, using: &rng))
            default: digits * [1e-5, 1e-3, 0.1, 1e3, 1e12][Int.random(in: 0..<5, using: &rng)]
            }
            guard value.isFinite else { return }
            let expected = value.rounded(.towardZero) == value && abs(value) < 9.007_199_254_740_992e15 ? "\(Int64(value)).0" : value.description
            let written = try? JSONWriter.encode(.double(value))
            #expect(written.map { String(decoding: $0, as: UTF8.self) } == expected, "seed \(seed): \(value)")
            let read = written.flatMap { try? JSONParser().parse($0) }
            #expect(read?.numberValue == value, "seed \(seed): \(value)")
        }
    }

    @Test("decimal numbers parse to the double Double(String) gives")
    func decimals() async {
        await CaseSeeds.check(count: 2_000, "CodecFastPathTests/decimals") { seed in
            var rng = SplitMix(state: seed)
            let whole = String(UInt64.random(in: 0 ... .max, using: &rng) >> Int.random(in: 0...63, using: &rng))
            let fraction = String((0..<Int.random(in: 1...20, using: &rng)).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            let exponent = Bool.random(using: &rng) ? "e\(Int.random(in: -30...30, using: &rng))" : ""
            let text = (Bool.random(using: &rng) ? "-" : "") + whole + "." + fraction + exponent
            #expect((try? JSONParser().parse(text)) == .double(Double(text)!), "seed \(seed): \(text)")
        }
    }

    @Test("the byte tables for envelope members and actions spell their names")
    func tables() {
        for member in EnvelopeMember.allCases {
            let bytes = Array(member.name.utf8)
            #expect(bytes.withUnsafeBufferPointer { EnvelopeMember(utf8: $0) } == member)
            #expect(Array(bytes.dropLast()).withUnsafeBufferPointer { EnvelopeMember(utf8: $0) } == nil)
        }
        for action in ContractAction.allCases {
            #expect(Array(action.rawValue.utf8).withUnsafeBufferPointer { ContractAction(utf8: $0) } == action)
        }
    }
}
