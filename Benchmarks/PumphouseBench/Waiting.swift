/// Waits for `condition` by polling it, for the moment something settles that has no
/// event of its own (the broker's last acknowledgement, the writer's last commit); the
/// poll interval bounds the error. Gives up after `timeout` with an error naming `what`.
func awaitCondition(_ what: String, timeout: Duration, every interval: Duration = .milliseconds(1), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw BenchmarkFailure("gave up after \(timeout) waiting for \(what)") }
        try await Task.sleep(for: interval)
    }
}
