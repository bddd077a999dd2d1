#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the spool refused a change or could not keep its promise of durability.
package enum SpoolError: Error, Sendable, CustomStringConvertible {
    /// Accepting the record would take the unacknowledged bytes past `maxPendingBytes`.
    case full(pendingBytes: Int, limit: Int)
    /// A system call failed. After a failed write or fsync the spool stops for good: Linux
    /// may already have dropped the unwritten pages, so a retry could report success for
    /// data that is gone.
    case io(path: String, operation: String, errno: Int32)
    /// A record that fails its checksum or does not decode, and is not the torn tail of
    /// the newest segment (which recovery truncates): the spool refuses to guess which
    /// changes were lost.
    case corrupt(path: String, offset: Int64, reason: String)
    /// The spool was closed (or its owner released it).
    case closed
    /// Record numbers have reached the most the unit's pump can name
    /// (`SpoolSegmentFormat.numberLimit`): 2^48 records, or a damaged mark file.
    case numbersExhausted(limit: Int64)

    package var description: String {
        switch self {
        case .full(let pendingBytes, let limit):
            return "spool full: \(pendingBytes) bytes are unacknowledged and the next change would pass the limit of \(limit) bytes (maxPendingBytes); the broker has been unreachable too long or the limit is too small"
        case .io(let path, let operation, let errno):
            return "spool: \(operation) \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .corrupt(let path, let offset, let reason):
            return "spool: \(path) is corrupt at byte \(offset): \(reason). This is not a torn write at the end of the newest segment, so the records in and after it cannot be trusted; restore the file or move it aside to start without its records"
        case .closed:
            return "spool: closed"
        case .numbersExhausted(let limit):
            return "spool: record numbers have reached \(limit), the most the unit's pump can name; once every change is acknowledged, start the unit with a new spool directory"
        }
    }
}
