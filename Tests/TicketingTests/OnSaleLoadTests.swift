import Testing
import Ticketing

@Suite("The on-sale benchmark's arithmetic")
struct OnSaleLoadTests {
    @Test("an open-loop schedule: arrival i is due at i / rate, the first at once, none past the count")
    func schedule() {
        let schedule = OpenLoopSchedule(rate: 400, duration: .seconds(2))
        #expect(schedule.count == 800)
        #expect(schedule.due(0) == .zero)
        #expect(schedule.due(1) == .microseconds(2500))
        #expect(schedule.due(400) == .seconds(1))
        #expect(schedule.dueCount(after: .milliseconds(-1)) == 0)
        #expect(schedule.dueCount(after: .zero) == 1)
        #expect(schedule.dueCount(after: .microseconds(2499)) == 1)
        #expect(schedule.dueCount(after: .microseconds(2500)) == 2)
        #expect(schedule.dueCount(after: .seconds(1)) == 401)
        #expect(schedule.dueCount(after: .seconds(60)) == 800)
        // Every arrival is due no later than the instant at which dueCount first counts it.
        for index in [0, 1, 7, 333, 799] {
            #expect(schedule.dueCount(after: schedule.due(index)) == index + 1)
        }
        #expect(OpenLoopSchedule(rate: 3, duration: .milliseconds(10)).count == 1)
    }

    @Test("sustained: at least 99% of the offered rate, under 0.1% errors, and p99 <= 100 ms, all three")
    func sustained() {
        let good = LoadStep(offered: 1000, achieved: 990, requests: 10_000, errors: 9, p50Milliseconds: 3, p99Milliseconds: 100)
        #expect(good.sustained)
        var slow = good
        slow.achieved = 989.9
        #expect(!slow.sustained)
        var failing = good
        failing.errors = 10
        #expect(!failing.sustained)
        var late = good
        late.p99Milliseconds = 100.1
        #expect(!late.sustained)
        #expect(!LoadStep(offered: 10, achieved: 0, requests: 0, errors: 0, p50Milliseconds: 0, p99Milliseconds: 0).sustained)
    }

    @Test("the rate search doubles while steps are sustained, halves while not, then bisects three times")
    func search() {
        let search = RateSearch(start: 500, minimum: 60, maximum: 32_000)
        func step(_ rate: Double, _ ok: Bool) -> LoadStep {
            LoadStep(offered: rate, achieved: ok ? rate : rate / 2, requests: 100, errors: 0, p50Milliseconds: 1, p99Milliseconds: 1)
        }
        func run(_ sustains: (Double) -> Bool) -> [Double] {
            var steps: [LoadStep] = []
            while let rate = search.next(after: steps) { steps.append(step(rate, sustains(rate))) }
            return steps.map(\.offered)
        }
        #expect(run { $0 <= 1500 } == [500, 1000, 2000, 1500, 1750, 1625])
        #expect(run { $0 <= 1700 } == [500, 1000, 2000, 1500, 1750, 1625])
        #expect(run { $0 <= 1800 } == [500, 1000, 2000, 1500, 1750, 1875])
        #expect(run { $0 <= 1400 } == [500, 1000, 2000, 1500, 1250, 1375])
        #expect(run { $0 <= 300 } == [500, 250, 375, 313, 282])
        // Two refinements stop a step earlier.
        let twice = RateSearch(start: 500, minimum: 60, maximum: 32_000, refinements: 2)
        #expect(twice.next(after: [500, 1000, 2000, 1500, 1750].map { step($0, $0 <= 1500) }) == nil)
        // Bisecting stops where the bracket is too narrow to hold a whole rate.
        #expect(RateSearch(start: 2, minimum: 1, maximum: 8).next(after: [step(2, true), step(4, false), step(3, true)]) == nil)
        // Without refinements the search ends at the bracket.
        #expect(RateSearch(start: 500, minimum: 60, maximum: 32_000, refinements: 0).next(after: [step(500, true), step(1000, false)]) == nil)
        #expect(run { _ in false } == [500, 250, 125, 62.5])
        #expect(run { _ in true } == [500, 1000, 2000, 4000, 8000, 16_000, 32_000])
        #expect(RateSearch.best([step(500, true), step(1000, true), step(2000, false), step(1500, true)]) == 1500)
        #expect(RateSearch.best([step(500, false)]) == 0)
        let capped = RateSearch(start: 50, minimum: 50, maximum: 100)
        #expect(capped.next(after: [step(50, true)]) == 100)
        #expect(capped.next(after: [step(50, true), step(100, true)]) == nil)
        #expect(capped.next(after: [step(50, false)]) == nil)
    }
}
