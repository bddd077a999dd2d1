extension Duration {
    /// Whole milliseconds, rounded down: what C libraries' timeouts and librdkafka's
    /// `*.ms` settings take, and what epoch-millisecond timestamps compare with.
    /// Saturating: a Duration holds far more seconds than Int64 holds milliseconds, and
    /// a timeout that long means "for ever", never a trap.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return Self.milliseconds(seconds, plus: attoseconds / 1_000_000_000_000_000)
    }

    /// Whole milliseconds, rounded up (0 for no time or less), for a wait until a
    /// deadline: rounded down, the deadline's last fraction of a millisecond would be
    /// polled with no wait at all, over and over, until it passed.
    package var millisecondsRoundedUp: Int64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let (whole, fraction) = attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000_000_000)
        return Self.milliseconds(seconds, plus: whole + (fraction > 0 ? 1 : 0))
    }

    /// `seconds` × 1000 + `extra`, held to Int64's range.
    private static func milliseconds(_ seconds: Int64, plus extra: Int64) -> Int64 {
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, over) = scaled.addingReportingOverflow(extra)
        return over ? (scaled < 0 ? .min : .max) : sum
    }

    /// Seconds as a fraction, for rates and reports.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
