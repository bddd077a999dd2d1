import PumphouseKafka
import Synchronization

/// Counts from delivery handlers, which run on the producer's thread.
final class FailureCounter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

final class ReportCollector: Sendable {
    private let reports = Mutex<[KafkaDeliveryReport]>([])
    func add(_ report: KafkaDeliveryReport) { reports.withLock { $0.append(report) } }
    var all: [KafkaDeliveryReport] { reports.withLock { $0 } }
}
