/// The on-sale benchmark's load, as arithmetic the tests can check.
///
/// Open loop: requests are due at fixed instants, whatever the server answers, and a
/// request's latency counts from when it was due, not from when it was sent. A closed
/// loop (the next request after the last answer) slows down with the server and hides
/// its queueing; so does an open loop timed from the send, when the generator itself
/// falls behind.
package struct OpenLoopSchedule: Sendable, Equatable {
    /// Arrivals per second.
    package let rate: Double
    package let count: Int

    package init(rate: Double, count: Int) {
        precondition(rate > 0 && count >= 0)
        self.rate = rate
        self.count = count
    }

    /// Arrivals at `rate` for `duration`, at least one.
    package init(rate: Double, duration: Duration) {
        self.init(rate: rate, count: max(1, Int((rate * (duration / .seconds(1))).rounded())))
    }

    /// When arrival `index` (from 0) is due, from the schedule's start.
    package func due(_ index: Int) -> Duration {
        .nanoseconds(Int64((Double(index) * 1e9 / rate).rounded()))
    }

    /// How many arrivals are due `elapsed` after the start: the first is due at once.
    package func dueCount(after elapsed: Duration) -> Int {
        guard elapsed >= .zero else { return 0 }
        let seconds = elapsed / .seconds(1)
        // The epsilon keeps an arrival due exactly at `elapsed` from being lost to rounding.
        return min(count, Int((seconds * rate + 1e-9).rounded(.down)) + 1)
    }
}

/// What one step of the benchmark saw at one offered rate.
package struct LoadStep: Sendable, Equatable {
    package var offered: Double
    /// Requests answered per second, over the step's span (first due to last answer).
    package var achieved: Double
    package var requests: Int
    package var errors: Int
    package var p50Milliseconds: Double
    package var p99Milliseconds: Double

    package init(offered: Double, achieved: Double, requests: Int, errors: Int, p50Milliseconds: Double, p99Milliseconds: Double) {
        (self.offered, self.achieved, self.requests, self.errors, self.p50Milliseconds, self.p99Milliseconds) = (offered, achieved, requests, errors, p50Milliseconds, p99Milliseconds)
    }

    /// The bar for "sustains": at least 99% of the offered rate achieved, under
    /// 0.1% errors, and p99 at most 100 ms. All three, since a server can hit the rate
    /// by failing fast or keep its latency by falling behind.
    package var sustained: Bool {
        requests > 0 && achieved >= 0.99 * offered && Double(errors) < 0.001 * Double(requests) && p99Milliseconds <= 100
    }
}

/// The search for the most requests/s a server sustains, kept to a few steps: from the
/// start rate, double while steps are sustained (up to `maximum`), or halve while they
/// are not (down to `minimum`); then, once the best rate sustained and the lowest not
/// are known, `refinements` steps halfway between them, each narrowing the bracket. One
/// such step left a server that sustained 4,800/s and not 6,400/s at 4,800: a quarter
/// of its figure unknown, which decided whether the database-first twin reached its
/// bar against pgbench; two leave an eighth, and three a sixteenth (the on-sale's
/// default since two left the twin at 3,200/s between 3,200 and 4,000 in a run where
/// pgbench reached 4,201: its 0.8x bar was then decided by the search, not the server).
package struct RateSearch: Sendable {
    package let start: Double
    package let minimum: Double
    package let maximum: Double
    package let refinements: Int

    package init(start: Double, minimum: Double, maximum: Double, refinements: Int = 3) {
        precondition(minimum > 0 && minimum <= start && start <= maximum && refinements >= 0)
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self.refinements = refinements
    }

    /// The rate to offer next after `steps` (in the order run), or nil when done.
    package func next(after steps: [LoadStep]) -> Double? {
        guard let last = steps.last else { return start }
        guard let bracket = Self.bracket(steps[...]) else {
            if last.sustained { return last.offered < maximum ? min(maximum, last.offered * 2) : nil }
            let lower = last.offered / 2
            return lower >= minimum ? lower : nil
        }
        // The steps run since the first bracket: the refinements so far.
        let bracketedAfter = (1...steps.count).first { Self.bracket(steps.prefix($0)) != nil }!
        guard steps.count - bracketedAfter < refinements else { return nil }
        let halfway = ((bracket.sustained + bracket.failed) / 2).rounded()
        return halfway > bracket.sustained && halfway < bracket.failed ? halfway : nil
    }

    /// The best rate sustained and the lowest rate above it that was not, if both exist.
    private static func bracket(_ steps: ArraySlice<LoadStep>) -> (sustained: Double, failed: Double)? {
        guard let best = steps.filter(\.sustained).map(\.offered).max(),
              let failed = steps.filter({ !$0.sustained && $0.offered > best }).map(\.offered).min() else { return nil }
        return (best, failed)
    }

    /// The highest rate sustained, or 0.
    package static func best(_ steps: [LoadStep]) -> Double {
        steps.filter(\.sustained).map(\.offered).max() ?? 0
    }
}
