import Foundation

/// Milliseconds since the Unix epoch: the unit of a contract's `eventTime`, comparable
/// between units (replication lag is measured across them).
func wallClockMilliseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000 + Int64(time.tv_nsec) / 1_000_000
}

/// Microseconds since the Unix epoch: where a unit's sequence numbers start (DataPump).
func wallClockMicroseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
}
