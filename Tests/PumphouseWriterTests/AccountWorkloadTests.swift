import PumphouseContracts
import PumphouseLoad
import Testing

@Suite("Load generator")
struct AccountWorkloadTests {
    @Test("the same seed gives the same contracts; origins have increasing sequences; keys are added first")
    func reproducible() throws {
        let name = try ContractName("bench.Account")
        var first = AccountWorkload(contract: name, version: 2, keys: 50, origins: 3, seed: 9, originPrefix: "p")
        var second = AccountWorkload(contract: name, version: 2, keys: 50, origins: 3, seed: 9, originPrefix: "p")
        var lastSequence: [String: Int64] = [:]
        var added = Set<String>()
        for _ in 0..<5_000 {
            let contract = first.next()
            #expect(contract == second.next())
            #expect(contract.sequence > lastSequence[contract.origin, default: 0])
            lastSequence[contract.origin] = contract.sequence
            if contract.action == .add { added.insert(contract.key) }
            if contract.action != .add { #expect(added.contains(contract.key), "\(contract.key) changed before its add") }
        }
        #expect(Set(lastSequence.keys) == ["p-u0", "p-u1", "p-u2"])
        #expect(first.counts.total == 5_000)
        #expect(first.counts.updates > 2_000)
    }
}
