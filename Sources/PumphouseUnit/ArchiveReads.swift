import Foundation
import PumphouseBlocking
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline
import Synchronization

/// Read-through to the database for keys a replica does not hold: a read request for
/// those keys goes to the data readers, and the answer comes back on the cache's
/// reverse-pump topic, which the unit's consumer follows from its end.
///
/// The entity read is returned to the caller and not put into the cache: a replica holds
/// what the log says, and a row read on one unit only would make replicas differ.
final class ArchiveReads: Sendable {
    private let unit: String
    private let requestTopic: String
    private let registry: ContractRegistry
    private let control: KafkaProducer
    /// By the request id's bytes, as the reply's header carries it.
    private let pending = Mutex<[ExactKey: Pending]>([:])

    private struct Pending {
        var continuation: CheckedContinuation<[Contract], any Error>
        var rows: [Contract] = []
    }

    init(unit: String, requestTopic: String, registry: ContractRegistry, control: KafkaProducer) {
        self.unit = unit
        self.requestTopic = requestTopic
        self.registry = registry
        self.control = control
    }

    /// The rows the database holds for `keys` (fewer if some are absent).
    func read(_ cache: CacheConfiguration, keys: [String], timeout: Duration) async throws(CacheError) -> [Contract] {
        let key = keys.first ?? ""
        let request = ReadRequest(
            id: "\(unit)-archive-\(UUID().uuidString.lowercased())", cache: cache.contract.rawValue, replyTo: cache.reverseTopic, keys: keys,
            requester: unit, deadline: wallClockMilliseconds() + timeout.milliseconds
        )
        do {
            return try await withCheckedThrowingContinuation { continuation in
                pending.withLock { $0[ExactKey(request.id)] = Pending(continuation: continuation) }
                do {
                    try control.send(request.message(topic: requestTopic))
                } catch {
                    finish(request.id, with: .failure(CacheError.archiveFailed(cache: cache.contract, key: key, reason: "the request could not be sent: \(error)")))
                    return
                }
                Task { [self] in
                    try? await Task.sleep(for: timeout)
                    finish(request.id, with: .failure(CacheError.archiveTimeout(cache: cache.contract, key: key, after: timeout)))
                }
            }
        } catch let error as CacheError {
            throw error
        } catch {
            throw .archiveFailed(cache: cache.contract, key: key, reason: "\(error)")
        }
    }

    /// A message on a reverse-pump topic; answers to other requests are ignored.
    func hear(_ message: KafkaMessage, cache: CacheConfiguration) {
        let headers = message.headers.map { ($0.name, $0.value) }
        guard let request = ReverseReply.request(in: headers), pending.withLock({ $0[ExactKey(request)] != nil }),
              let reply = ReverseReply(key: message.key, value: message.value, headers: headers)
        else { return }
        switch reply {
        case .rows(_, let batch):
            var contracts: [Contract] = []
            contracts.reserveCapacity(batch.count)
            var failure: (key: String, error: ContractError)?
            batch.forEach { key, value in
                guard failure == nil else { return }
                do throws(ContractError) { contracts.append(try registry.decode(key: key, value: value)) } catch { failure = (String(decoding: key, as: UTF8.self), error) }
            }
            if let failure {
                finish(request, with: .failure(CacheError.archiveFailed(cache: cache.contract, key: failure.key, reason: "the row read back cannot be decoded: \(failure.error)")))
                return
            }
            pending.withLock { $0[ExactKey(request)]?.rows.append(contentsOf: contracts) }
        case .end(let end):
            let rows = pending.withLock { $0[ExactKey(request)]?.rows ?? [] }
            if Int64(rows.count) == end.rows {
                finish(request, with: .success(rows))
            } else {
                finish(request, with: .failure(CacheError.archiveFailed(cache: cache.contract, key: rows.first?.key ?? "", reason: "the answer had \(rows.count) of its \(end.rows) rows")))
            }
        case .error(_, let reason):
            finish(request, with: .failure(CacheError.archiveFailed(cache: cache.contract, key: "", reason: "the data reader refused: \(reason)")))
        }
    }

    /// Fails every read still waiting: the unit is stopping.
    func close() {
        let waiting = pending.withLock { pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for entry in waiting { entry.continuation.resume(throwing: CancellationError()) }
    }

    /// Resumes a read once: whichever of answer, error and timeout comes first.
    private func finish(_ request: String, with result: Result<[Contract], any Error>) {
        guard let entry = pending.withLock({ $0.removeValue(forKey: ExactKey(request)) }) else { return }
        entry.continuation.resume(with: result)
    }
}
