import PumphouseContracts
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import Testing

/// A type's own `apply(fields:deltas:)` must give what the conversion through fields
/// gives, and refuse where that conversion refuses: replicas take either path.
@Suite("An entity's in-place update agrees with the conversion through fields")
struct EntityApplyTests {
    @Test("BenchAccount: random updates (known, unknown and twin-spelled names, wrong types, overflowing deltas) against the merge of fields")
    func benchAccountAgrees() {
        var random = SplitMix(seed: UInt64.random(in: 0 ... .max))
        let names = ["id", "owner", "balance", "currency", "status", "updatedAt", "note", "st\u{E2}tus", "sta\u{302}tus"]
        let values: [JSONValue] = [.string("x"), .string("ünï"), .int(0), .int(-3), .int(.max), .int(.min), .double(1.5), .null, .bool(true)]
        for round in 0..<2_000 {
            let account = BenchAccount(id: "k\(round)", balance: [0, 7, .max, .min][Int(random.next() % 4)])
            var fields = JSONObject()
            var deltas = JSONObject()
            for _ in 0..<Int(random.next() % 3) { fields[names[Int(random.next() % UInt64(names.count))]] = values[Int(random.next() % UInt64(values.count))] }
            for _ in 0..<Int(random.next() % 3) { deltas[names[Int(random.next() % UInt64(names.count))]] = values[Int(random.next() % 7)] }
            let expected = EntityEffect.update(fields: fields, deltas: deltas).applied(to: account.fields).state.flatMap { try? BenchAccount(fields: $0) }
            var applied = account
            let outcome = (try? applied.apply(fields: fields, deltas: deltas)).map { applied }
            #expect(outcome == expected, "fields \(fields), deltas \(deltas) on balance \(account.balance)")
        }
    }
}
