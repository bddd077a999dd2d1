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

    @Test("the rate search doubles until a step fails, tries once halfway, and reports the best rate sustained")
    func search() {
        let search = RateSearch(start: 500, maximum: 32_000)
        func step(_ rate: Double, _ ok: Bool) -> LoadStep {
            LoadStep(offered: rate, achieved: ok ? rate : rate / 2, requests: 100, errors: 0, p50Milliseconds: 1, p99Milliseconds: 1)
        }
        var steps: [LoadStep] = []
        #expect(search.next(after: steps) == 500)
        steps.append(step(500, true))
        #expect(search.next(after: steps) == 1000)
        steps.append(step(1000, true))
        #expect(search.next(after: steps) == 2000)
        steps.append(step(2000, false))
        #expect(search.next(after: steps) == 1500)
        steps.append(step(1500, true))
        #expect(search.next(after: steps) == nil)
        #expect(RateSearch.best(steps) == 1500)
        // The first rate failing ends the search with nothing sustained.
        #expect(search.next(after: [step(500, false)]) == nil)
        #expect(RateSearch.best([step(500, false)]) == 0)
        // The maximum ends it too.
        let capped = RateSearch(start: 50, maximum: 100)
        #expect(capped.next(after: [step(50, true)]) == 100)
        #expect(capped.next(after: [step(50, true), step(100, true)]) == nil)
    }
}
