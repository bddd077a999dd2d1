extension Duration {
    /// Whole milliseconds, rounded down: what C libraries' timeouts and librdkafka's
    /// `*.ms` settings take, and what epoch-millisecond timestamps compare with.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole milliseconds, rounded up (0 for no time or less), for a wait until a
    /// deadline: rounded down, the deadline's last fraction of a millisecond would be
    /// polled with no wait at all, over and over, until it passed.
    package var millisecondsRoundedUp: Int64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let (whole, fraction) = attoseconds.quotientAndRemainder(dividingBy: 1_000_000_000_000_000)
        return seconds * 1000 + whole + (fraction > 0 ? 1 : 0)
    }

    /// Seconds as a fraction, for rates and reports.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
