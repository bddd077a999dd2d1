#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State behind a mutex with a condition variable, so a dedicated thread can sleep until
/// the state changes or a deadline passes.
///
/// `Synchronization.Mutex` has no condition variable, and polling would either burn a
/// core or add latency to every commit. This is `@unchecked Sendable` because the
/// compiler cannot see that the pthread mutex guards `state`: every access to it is
/// inside `withLock` or `wait`, which hold the mutex.
final class ConditionLock<State: Sendable>: @unchecked Sendable {
    /// What the waiting thread decides each time it holds the lock.
    enum Step<Result> {
        case proceed(Result)
        /// Sleep until signalled or, if given, until the timeout passes.
        case sleep(timeout: Duration?)
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
        #if os(Linux)
        // Timeouts on the monotonic clock, so a wall-clock step cannot stall commits.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        #else
        pthread_cond_init(condition, nil)
        #endif
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Wakes the thread sleeping in `wait`, if any. A thread that is not sleeping misses
    /// nothing: it looks at the state again before it sleeps.
    func signal() {
        pthread_cond_signal(condition)
    }

    /// Calls `step` with the lock held until it proceeds, sleeping in between as it asks.
    func wait<Result>(_ step: (inout State) -> Step<Result>) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            switch step(&state) {
            case .proceed(let result):
                return result
            case .sleep(nil):
                pthread_cond_wait(condition, mutex)
            case .sleep(let timeout?):
                sleep(for: timeout)
            }
        }
    }

    private func sleep(for timeout: Duration) {
        let (seconds, attoseconds) = max(timeout, .zero).components
        #if os(Linux)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_cond_timedwait(condition, mutex, &deadline)
        #else
        var relative = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        pthread_cond_timedwait_relative_np(condition, mutex, &relative)
        #endif
    }
}
