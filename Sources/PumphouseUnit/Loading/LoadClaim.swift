import PumphouseContracts
import PumphouseKafka

/// A unit's claim on a cache's cold-start load, or its renewal, as a record on the
/// cache's reverse-pump topic: the topic has one partition, so its order decides which
/// of the units that start together asks the data readers (`LoadLedger`), and the
/// answer that follows lands in the same order.
///
/// The claim names the read request its holder sends, so whoever folds the topic can
/// tell that answer from the answers to other requests (partition re-reads, key reads)
/// and load it in turn. Data readers and older units read the topic for answers only,
/// and pass over these records: they carry no `ph-reply` header.
struct LoadClaim: Sendable, Equatable {
    enum Kind: String, Sendable {
        /// The unit asks to be the one that loads.
        case claim
        /// The holder is alive and still loading.
        case renew
    }

    var kind: Kind
    /// The id of the read request the holder sends, unique per claim.
    var request: String
    var unit: String

    /// The header that marks the record and says its kind.
    static let header = "ph-load"

    func message(topic: String) -> KafkaProducerMessage {
        KafkaProducerMessage(
            topic: topic, partition: 0, key: Array(request.utf8), value: Array(unit.utf8),
            headers: [KafkaHeader(name: ReadRequest.Header.request, string: request), KafkaHeader(name: Self.header, string: kind.rawValue)]
        )
    }

    /// The claim a record holds; nil for any other record of the topic.
    init?(_ message: KafkaMessage) {
        guard let kind = message.headers.value(named: Self.header).flatMap({ Kind(rawValue: String(decoding: $0, as: UTF8.self)) }),
              let request = message.headers.value(named: ReadRequest.Header.request), let unit = message.value
        else { return nil }
        self.init(kind: kind, request: String(decoding: request, as: UTF8.self), unit: String(decoding: unit, as: UTF8.self))
    }

    init(kind: Kind, request: String, unit: String) {
        self.kind = kind
        self.request = request
        self.unit = unit
    }
}
