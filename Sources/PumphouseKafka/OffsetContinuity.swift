/// Keeps a consumer from stepping over offsets that the log will still hold.
///
/// A broker must make a partition's records visible in offset order: Kafka exposes
/// nothing above the high watermark. The local broker (Tansu 0.6) does not. Under
/// concurrent producers to one partition it can answer a fetch with a later produce
/// request's records while an earlier one, with lower offsets, is not yet readable;
/// librdkafka moves past the fetch's last offset and never asks for the earlier records
/// again. A consumer reading at the log's end lost whole produce requests that way
/// (a data writer's PostgreSQL was missing increments that a later read of the topic
/// held). A gap alone proves nothing, though: compaction, transaction markers and
/// retention leave offsets that no record will ever fill.
///
/// So a gap is read again from its first missing offset until either the missing
/// records arrive (the broker was late: counted and logged as `reread`) or the same gap
/// has stood for `window` (the offsets are not in the log: `absent`). Once a partition
/// has shown a real gap, later gaps below the high watermark of that moment are
/// accepted at once, so a compacted backlog costs one window, not one per gap.
///
/// Pure state, driven by the consumer's poll loop, which performs the seeks.
struct OffsetContinuity {
    /// What the poll loop does with one message.
    enum Verdict: Equatable {
        /// Hand it to the application.
        case deliver
        /// Hand it over; offsets `missing` were found absent from the log, `confirmed` by
        /// reading them again for the window (else below a known real gap's watermark).
        case deliverAfterAbsent(missing: Range<Int64>, confirmed: Bool)
        /// Hand it over; offsets `missing` had been skipped by a fetch and were read again.
        case deliverAfterReread(missing: Range<Int64>)
        /// Drop it and read the partition again from `from` (the first missing offset).
        case reread(from: Int64)
    }

    private struct Track {
        /// The offset the next message should carry; nil until a message or an explicit
        /// position says.
        var next: Int64?
        /// The gap being read again, and when it was first seen.
        var pending: (missing: Range<Int64>, since: ContinuousClock.Instant)?
        /// Gaps ending at or below this offset are accepted without reading them again.
        var absentBelow: Int64 = -1
    }

    /// How long a gap must stand, read again and again, before it counts as absent.
    let window: Duration
    private var tracks: [KafkaTopicPartition: Track] = [:]
    /// Gaps read again and filled, and gaps accepted as absent, since the start.
    private(set) var reread = 0
    private(set) var absent = 0

    init(window: Duration) {
        self.window = window
    }

    /// The application or a rebalance placed the partition: at `offset` when it is
    /// known, else wherever the first message says.
    mutating func placed(_ partition: KafkaTopicPartition, at offset: Int64?) {
        tracks[partition, default: Track()].next = offset
        tracks[partition]?.pending = nil
    }

    mutating func removed(_ partition: KafkaTopicPartition) {
        tracks[partition] = nil
    }

    mutating func removeAll() {
        tracks.removeAll()
    }

    /// Judges the message at `offset`. `now` is read only at a gap, and `highWatermark`
    /// only when a gap is accepted: messages in order cost a lookup and a comparison.
    mutating func check(_ partition: KafkaTopicPartition, offset: Int64, now: @autoclosure () -> ContinuousClock.Instant, highWatermark: () -> Int64?) -> Verdict {
        let verdict = Self.judge(offset, track: &tracks[partition, default: Track()], window: window, now: now, highWatermark: highWatermark)
        switch verdict {
        case .deliverAfterReread: reread += 1
        case .deliverAfterAbsent: absent += 1
        case .deliver, .reread: break
        }
        return verdict
    }

    /// One hash lookup per message: the track is changed in place.
    private static func judge(_ offset: Int64, track: inout Track, window: Duration, now: () -> ContinuousClock.Instant, highWatermark: () -> Int64?) -> Verdict {
        guard let next = track.next, offset > next else {
            // In order, the first message of a position not given, or an earlier offset
            // (nothing is skipped by going back).
            track.next = offset + 1
            guard let pending = track.pending, offset == pending.missing.lowerBound else { return .deliver }
            track.pending = nil
            return .deliverAfterReread(missing: pending.missing)
        }
        let missing = next..<offset
        if offset <= track.absentBelow {
            return accept(missing, confirmed: false, in: &track)
        }
        if let pending = track.pending, pending.missing.lowerBound == next {
            guard now() - pending.since >= window else { return .reread(from: next) }
            track.absentBelow = max(track.absentBelow, highWatermark() ?? offset)
            return accept(missing, confirmed: true, in: &track)
        }
        track.pending = (missing, now())
        return .reread(from: next)
    }

    private static func accept(_ missing: Range<Int64>, confirmed: Bool, in track: inout Track) -> Verdict {
        track.pending = nil
        track.next = missing.upperBound + 1
        return .deliverAfterAbsent(missing: missing, confirmed: confirmed)
    }
}
