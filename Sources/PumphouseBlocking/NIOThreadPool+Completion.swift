import NIOPosix

/// Why a blocking call did not run: its thread pool is shutting down.
public struct BlockingPoolShutDown: Error, CustomStringConvertible {
    public let operation: String
    public var description: String { "\(operation) did not run: the client is shutting down" }
}

extension NIOThreadPool {
    /// Runs a blocking call on the pool even if the awaiting task is cancelled.
    ///
    /// `runIfActive` skips queued work for a cancelled task, which is right for ordinary
    /// calls but wrong for calls that end something: a ROLLBACK or COMMIT that is
    /// skipped leaves a transaction open on the server, holding its locks.
    public func runToCompletion<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: BlockingPoolShutDown(operation: operation))
                    return
                }
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
