import Foundation
import Logging
import PumphouseContracts
import PumphouseKafka
import PumphousePipeline

/// A data reader saying on the member topic that it runs, so `pumphouse status` can
/// show the readers.
///
/// Asking the broker for the reader group's members (DescribeConsumerGroups) would need
/// nothing from the reader, but the local broker answers it with a stable group and no
/// members; an announcement works on every broker and is read like the units' own.
/// Announcements go through a producer of their own, as a unit's do: a lost heartbeat
/// is harmless, and trouble on the member topic must never count against a load's rows.
struct ReaderPresence: Sendable {
    let member: String
    let address: String
    let topic: String
    let interval: Duration
    private let since = Int64(Date().timeIntervalSince1970 * 1000)
    private let producer: KafkaProducer

    init(configuration: PipelineConfiguration, interval: Duration = .seconds(1), logger: Logger) throws(KafkaError) {
        let host = ProcessInfo.processInfo.hostName
        self.member = "\(host)-\(getpid())"
        self.address = host
        self.topic = configuration.memberTopic
        self.interval = interval
        var control = KafkaProducerConfiguration(connection: configuration.kafka)
        control.connection.clientID = "pumphouse-reader"
        control.idempotent = false
        control.messageTimeout = max(interval * 5, .seconds(1))
        control.linger = .zero
        self.producer = try KafkaProducer(configuration: control, logger: logger) { _ in }
    }

    /// Joins, then heartbeats until the task is cancelled.
    func run() async {
        announce(.join)
        while (try? await Task.sleep(for: interval)) != nil {
            announce(.heartbeat)
        }
    }

    /// Says it leaves and waits briefly for that to be sent.
    func leave() async {
        announce(.leave)
        try? await producer.shutdown(timeout: .seconds(1))
    }

    private func announce(_ event: MemberAnnouncement.Event) {
        let announcement = MemberAnnouncement(event: event, role: .reader, cache: "", member: member, address: address, since: since)
        _ = try? producer.send(KafkaProducerMessage(topic: topic, key: Array("reader".utf8), value: announcement.encoded()))
    }
}
