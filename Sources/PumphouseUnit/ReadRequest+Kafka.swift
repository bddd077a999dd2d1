import PumphouseContracts
import PumphouseKafka

extension ReadRequest {
    /// The request as it goes on the request topic: keyed by cache, so one cache's
    /// requests are served in order.
    func message(topic: String) -> KafkaProducerMessage {
        KafkaProducerMessage(
            topic: topic, key: Array(cache.utf8), value: value,
            headers: headers.map { KafkaHeader(name: $0.name, string: $0.value) }
        )
    }
}
