import CLibPQ
import Logging
import NIOPosix
import Synchronization

/// Cancels, on the server, the statement a session is running, for a task cancelled while
/// it waits on one: without it the task would wait out the statement, however long.
///
/// libpq's cancel object belongs to one server session (its process id and secret key),
/// so the session thread makes a new one at every (re)connect. A cancel request is sent
/// on another connection, and `PQcancel` blocks until the server has it: the request runs
/// on a thread of NIO's blocking pool, never on the cooperative pool, and under the lock
/// that the session thread takes to finish its statement, so the request can only reach
/// the statement it was meant for (the server may still see it just after that statement
/// ended, when it does nothing).
final class ServerCanceller: Sendable {
    private struct State: @unchecked Sendable {
        /// `PGcancel *` of the current server session; touched only under the lock.
        var cancel: OpaquePointer?
        /// The statement in flight, by number (0: none).
        var inFlight: UInt64 = 0
        var started: UInt64 = 0
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    deinit {
        state.withLock { state in
            if let cancel = state.cancel { PQfreeCancel(cancel) }
        }
    }

    /// On the session thread, after a connect or a reset: the server session changed.
    func renew(from conn: OpaquePointer) {
        let fresh = PQgetCancel(conn)
        let stale = state.withLock { state in
            defer { state.cancel = fresh }
            return state.cancel
        }
        if let stale { PQfreeCancel(stale) }
    }

    /// Runs `statement` (on the session thread) as the one a cancellation stops.
    func running<T>(_ statement: () throws(PostgresError) -> T) throws(PostgresError) -> T {
        state.withLock { state in
            state.started &+= 1
            state.inFlight = state.started
        }
        defer { state.withLock { $0.inFlight = 0 } }
        return try statement()
    }

    /// Asks the server to cancel the statement in flight now, if there is one; returns
    /// at once.
    func cancelInFlight() {
        let statement = state.withLock { $0.inFlight }
        guard statement != 0 else { return }
        NIOThreadPool.singleton.submit { [self] _ in
            let failure: String? = state.withLock { state in
                guard state.inFlight == statement, let cancel = state.cancel else { return nil }
                var reason = [CChar](repeating: 0, count: 256)
                guard PQcancel(cancel, &reason, Int32(reason.count)) == 0 else { return nil }
                return String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if let failure {
                // The statement then runs to its end, as it would have without the request.
                logger.warning("could not ask PostgreSQL to cancel a statement of a cancelled task; it runs to its end", metadata: ["reason": "\(failure)"])
            }
        }
    }
}
