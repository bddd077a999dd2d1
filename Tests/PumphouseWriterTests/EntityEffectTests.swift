import PumphouseContracts
import PumphouseTestSupport
import PumphouseWriter
import Testing

/// The reference semantics: apply effects one by one to an optional row.
func applySequentially(_ effects: [EntityEffect], to start: JSONObject?) -> (row: JSONObject?, skipped: Int) {
    var row = start
    var skipped = 0
    for effect in effects {
        switch effect {
        case .upsert(let full): row = full
        case .delete: row = nil
        case .update(let fields, let deltas):
            guard let current = row else {
                skipped += 1
                continue
            }
            row = updated(current, fields, deltas)
        case .create(let full, let fields, let deltas):
            row = row.map { updated($0, fields, deltas) } ?? full
        }
    }
    return (row, skipped)
}

private func updated(_ row: JSONObject, _ fields: JSONObject, _ deltas: JSONObject) -> JSONObject {
    var current = row
    for member in fields { current[member.name] = member.value }
    for delta in deltas {
        let base = current[delta.name]?.numberValue ?? 0
        current[delta.name] = .int(Int64(base) + Int64(delta.value.numberValue!))
    }
    return current
}

/// Folds the same way a writer does: a `nil` step (update after delete) is skipped.
func fold(_ effects: [EntityEffect]) -> (effect: EntityEffect?, skipped: Int) {
    var folded: EntityEffect?
    var skipped = 0
    for effect in effects {
        guard let current = folded else {
            folded = effect
            continue
        }
        if let next = current.then(effect) { folded = next } else { skipped += 1 }
    }
    return (folded, skipped)
}

@Suite("Folding a key's contracts into one effect")
struct EntityEffectTests {
    @Test("add, then updates with deltas, becomes one upsert")
    func addThenUpdates() {
        let folded = fold([
            .upsert(["id": .string("a"), "balance": .int(100), "status": .string("open")]),
            .update(fields: ["status": .string("frozen")], deltas: ["balance": .int(-30)]),
            .update(fields: [:], deltas: ["balance": .int(5)]),
        ])
        #expect(folded.effect == .upsert(["id": .string("a"), "balance": .int(75), "status": .string("frozen")]))
    }

    @Test("updates merge: later sets win, deltas add up, a delta after a set changes the set value")
    func updatesMerge() {
        let folded = fold([
            .update(fields: ["status": .string("a")], deltas: ["sold": .int(10)]),
            .update(fields: ["status": .string("b")], deltas: ["sold": .int(5)]),
            .update(fields: ["price": .int(100)], deltas: [:]),
            .update(fields: [:], deltas: ["price": .int(1)]),
        ])
        #expect(folded.effect == .update(fields: ["status": .string("b"), "price": .int(101)], deltas: ["sold": .int(15)]))
        #expect(fold([.update(fields: [:], deltas: ["n": .int(3)]), .update(fields: ["n": .int(0)], deltas: [:])]).effect
            == .update(fields: ["n": .int(0)], deltas: [:]))
    }

    @Test("an update after a delete cannot apply; a later add replaces")
    func deleteThen() {
        let folded = fold([.delete, .update(fields: ["x": .int(1)], deltas: [:]), .upsert(["x": .int(2)])])
        #expect(folded.effect == .upsert(["x": .int(2)]))
        #expect(folded.skipped == 1)
    }

    @Test("a create inserts only where nothing exists: after a delete it is an add, after an add it is nothing")
    func creates() {
        let row: JSONObject = ["a": .int(1), "n": .int(0)]
        let other: JSONObject = ["a": .int(2), "n": .int(5)]
        #expect(fold([.delete, .create(row: row, fields: [:], deltas: [:])]).effect == .upsert(row))
        #expect(fold([.upsert(other), .create(row: row, fields: [:], deltas: [:])]).effect == .upsert(other))
        // The first create wins whichever way the row stands.
        #expect(fold([.create(row: row, fields: [:], deltas: [:]), .create(row: other, fields: [:], deltas: [:])]).effect
            == .create(row: row, fields: [:], deltas: [:]))
        // Updates after a create apply to whichever row the create left.
        let folded = fold([.create(row: row, fields: [:], deltas: [:]), .update(fields: [:], deltas: ["n": .int(3)])]).effect
        #expect(folded == .create(row: ["a": .int(1), "n": .int(3)], fields: [:], deltas: ["n": .int(3)]))
        #expect(folded.map { applySequentially([$0], to: other).row } == ["a": .int(2), "n": .int(8)])
        #expect(folded.map { applySequentially([$0], to: nil).row } == ["a": .int(1), "n": .int(3)])
    }

    @Test("integer deltas stay exact; overflow widens instead of wrapping")
    func overflow() {
        #expect(fold([.upsert(["n": .int(.max)]), .update(fields: [:], deltas: ["n": .int(1)])]).effect == .upsert(["n": .double(Double(Int64.max) + 1)]))
    }

    @Test("folding equals applying one by one, for random runs of adds, creates, updates and deletes")
    func modelCheck() {
        var rng = SplitMix(state: 42)
        for _ in 0..<2_000 {
            let start: JSONObject? = Bool.random(using: &rng) ? ["a": .int(1), "n": .int(0)] : nil
            let effects = (0..<Int.random(in: 1...8, using: &rng)).map { _ -> EntityEffect in
                switch Int.random(in: 0...4, using: &rng) {
                case 0: return .upsert(["a": .int(Int64.random(in: 0...9, using: &rng)), "n": .int(Int64.random(in: 0...9, using: &rng))])
                case 1: return .delete
                case 4: return .create(row: ["a": .int(Int64.random(in: 0...9, using: &rng)), "n": .int(Int64.random(in: 0...9, using: &rng))], fields: [:], deltas: [:])
                case 2: return .update(fields: ["a": .int(Int64.random(in: 0...9, using: &rng))], deltas: [:])
                default: return .update(fields: [:], deltas: ["n": .int(Int64.random(in: -5...5, using: &rng))])
                }
            }
            let expected = applySequentially(effects, to: start)
            let (folded, skippedInFold) = fold(effects)
            // Applying the folded effect to the start state must give the same row.
            var viaFold: (row: JSONObject?, skipped: Int) = folded.map { applySequentially([$0], to: start) } ?? (start, 0)
            viaFold.skipped += skippedInFold
            #expect(viaFold.row == expected.row, "\(effects) from \(String(describing: start))")
            // Skips are counted per effect, and merged updates skip together; an update
            // of a missing row that a later add or delete supersedes is absorbed. So the
            // fold never reports a missing row that one-by-one application would not.
            #expect(viaFold.skipped <= expected.skipped, "\(effects) from \(String(describing: start))")
            if expected.skipped == 0 { #expect(viaFold.skipped == 0) }
            // Applied in place on a dictionary's entry, as a replay folds, one by one.
            var rows: [ExactKey: JSONObject] = [:]
            rows["k"] = start
            let skippedInPlace = effects.reduce(0) { $0 + ($1.apply(to: &rows["k"]) ? 1 : 0) }
            #expect(rows["k"] == expected.row && skippedInPlace == expected.skipped, "\(effects) from \(String(describing: start))")
            #expect(rows.count == (expected.row == nil ? 0 : 1))
        }
    }
}

