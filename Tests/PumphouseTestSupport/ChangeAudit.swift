import PumphouseContracts

/// Counts lost and doubled changes from the state they leave. The j-th audited change of
/// a key adds 2^j to its balance (from 0 when the key is opened), so a complete key
/// holds 2^n - 1. A change applied zero times or twice shows in the bits of the
/// difference, and a loss and a doubling on one key cannot cancel out, since two disjoint
/// sets of powers of two never have the same sum: any fault makes a count non-zero. The
/// split between the two counts is exact when a key has only losses or only doublings;
/// a key with both is counted by the sign of its difference.
public struct ChangeAudit: Sendable {
    /// 62 changes: the expected balance 2^62 - 1 and a doubled last change (2^62 more)
    /// both stay within Int64.
    public static let changesPerKey = 62

    /// Audited changes handed out per key; opening a key is one more change.
    /// Audited changes handed out per key (by its bytes, as the database tells keys apart).
    public private(set) var changes: [ExactKey: Int] = [:]

    public init() {}

    /// Every change handed out, counting each key's opening.
    public var total: Int { changes.values.reduce(changes.count) { $0 + $1 } }

    /// Records that `key` was opened with balance 0.
    public mutating func open(_ text: String) {
        let key = ExactKey(text)
        precondition(changes[key] == nil, "\(key) is already open")
        changes[key] = 0
    }

    /// The delta of the key's next change, or nil once the key has had all it can hold
    /// (the caller picks another key).
    public mutating func nextDelta(for text: String) -> Int64? {
        let key = ExactKey(text)
        guard let done = changes[key], done < Self.changesPerKey else { return nil }
        changes[key] = done + 1
        return Int64(1) << done
    }

    public func expectedBalance(of key: String) -> Int64? {
        changes[ExactKey(key)].map { (Int64(1) << $0) - 1 }
    }

    public var expectedBalances: [ExactKey: Int64] {
        changes.mapValues { (Int64(1) << $0) - 1 }
    }

    /// Lost and doubled changes, given the balances that were found. A missing key lost
    /// its opening and every change; a key nobody opened is one doubled effect.
    public func count(found: [ExactKey: Int64]) -> (lost: Int, duplicated: Int) {
        var lost = 0
        var duplicated = 0
        for (key, done) in changes {
            guard let balance = found[key] else {
                lost += done + 1
                continue
            }
            let difference = balance.subtractingReportingOverflow((Int64(1) << done) - 1)
            if difference.overflow {
                duplicated += 1
            } else if difference.partialValue > 0 {
                duplicated += difference.partialValue.nonzeroBitCount
            } else if difference.partialValue < 0 {
                lost += difference.partialValue.magnitude.nonzeroBitCount
            }
        }
        duplicated += found.keys.filter { changes[$0] == nil }.count
        return (lost, duplicated)
    }
}
