import PumphouseTestSupport
import Testing

@Suite("Change audit of the fault scenarios")
struct ChangeAuditTests {
    @Test("a complete key counts nothing; a missing change is lost, a doubled one duplicated, and together they do not cancel")
    func counts() {
        var audit = ChangeAudit()
        for key in ["a", "b", "c"] {
            audit.open(key)
            for _ in 0..<5 { _ = audit.nextDelta(for: key) }
        }
        #expect(audit.total == 18)
        #expect(audit.expectedBalance(of: "a") == 31)
        #expect(audit.count(found: ["a": 31, "b": 31, "c": 31]) == (0, 0))
        // b lost its change of 4; c got its change of 2 twice.
        #expect(audit.count(found: ["a": 31, "b": 27, "c": 33]) == (1, 1))
        // On one key, losing 4 and doubling 2 leaves 29: not 31.
        #expect(audit.count(found: ["a": 29, "b": 31, "c": 31]) != (0, 0))
        // A missing row lost its opening and its five changes; a stray row is an extra effect.
        #expect(audit.count(found: ["a": 31, "b": 31, "stray": 0]) == (6, 1))
    }

    @Test("a key takes 62 changes, then asks for another key")
    func capacity() {
        var audit = ChangeAudit()
        audit.open("k")
        let deltas = (0..<ChangeAudit.changesPerKey).compactMap { _ in audit.nextDelta(for: "k") }
        #expect(deltas.count == 62 && deltas.last == Int64(1) << 61)
        #expect(audit.nextDelta(for: "k") == nil)
        #expect(audit.expectedBalance(of: "k") == Int64.max >> 1)
        #expect(audit.nextDelta(for: "unopened") == nil)
    }
}
