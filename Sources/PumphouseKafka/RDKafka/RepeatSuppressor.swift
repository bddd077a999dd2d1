import Synchronization

/// Lets a message through once per window and counts the repeats in between, so a
/// retrying client reports an outage without flooding the log.
final class RepeatSuppressor: Sendable {
    private struct Entry {
        var lastShown: ContinuousClock.Instant
        var suppressed: Int
    }

    private let window: Duration
    private let entries = Mutex<[String: Entry]>([:])
    /// Bounds memory when messages vary (they carry offsets, ids).
    private let capacity = 512

    init(window: Duration) {
        self.window = window
    }

    /// The line to log, or nil to stay quiet.
    func admit(_ message: String) -> String? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            if var entry = entries[message] {
                guard now - entry.lastShown >= window else {
                    entry.suppressed += 1
                    entries[message] = entry
                    return nil
                }
                let repeated = entry.suppressed
                entries[message] = Entry(lastShown: now, suppressed: 0)
                return repeated > 0 ? "\(message) (repeated \(repeated) times)" : message
            }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[message] = Entry(lastShown: now, suppressed: 0)
            return message
        }
    }
}
