import PumphouseContracts
import PumphouseLoad
import Testing

@Suite("Load generator")
struct AccountWorkloadTests {
    @Test("the same seed gives the same contracts; origins have increasing sequences; only live keys change", arguments: [50, 80])
    func reproducible(updatePercent: Int) throws {
        let name = try ContractName("bench.Account")
        var first = AccountWorkload(contract: name, version: 2, keys: 50, origins: 3, seed: 9, originPrefix: "p", updatePercent: updatePercent)
        var second = AccountWorkload(contract: name, version: 2, keys: 50, origins: 3, seed: 9, originPrefix: "p", updatePercent: updatePercent)
        var lastSequence: [String: Int64] = [:]
        var live = Set<String>()
        for _ in 0..<5_000 {
            let contract = first.next()
            #expect(contract == second.next())
            #expect(contract.sequence > lastSequence[contract.origin, default: 0])
            lastSequence[contract.origin] = contract.sequence
            if contract.action != .add { #expect(live.contains(contract.key), "\(contract.key) changed while not live") }
            if contract.action == .add { live.insert(contract.key) }
            if contract.action == .delete { live.remove(contract.key) }
        }
        #expect(Set(lastSequence.keys) == ["p-u0", "p-u1", "p-u2"])
        #expect(first.counts.total == 5_000)
        // Binomial spread: 5,000 draws stay within 3% of the asked share.
        #expect(abs(first.counts.updates - 5_000 * updatePercent / 100) < 150, "\(first.counts)")
        #expect((100..<200).contains(first.counts.deletes), "\(first.counts)")
    }
}
