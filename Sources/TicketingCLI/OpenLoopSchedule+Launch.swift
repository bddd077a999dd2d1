import Ticketing

extension OpenLoopSchedule {
    /// Starts `arrival` for every arrival of the schedule at its due instant from `start`,
    /// whatever earlier arrivals are still doing (an open loop: a slow server does not
    /// slow the arrivals down), and returns once every arrival has finished.
    func launch(from start: ContinuousClock.Instant, _ arrival: @escaping @Sendable (_ index: Int, _ due: ContinuousClock.Instant) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var launched = 0
            while launched < count {
                let due = dueCount(after: ContinuousClock.now - start)
                while launched < due {
                    let index = launched
                    let instant = start + self.due(index)
                    group.addTask { await arrival(index, instant) }
                    launched += 1
                }
                if launched < count {
                    try? await Task.sleep(until: start + self.due(launched), tolerance: .microseconds(200))
                }
            }
            await group.waitForAll()
        }
    }
}
