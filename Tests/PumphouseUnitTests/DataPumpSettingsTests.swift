import PumphouseKafka
import Testing

@testable import PumphouseUnit

@Suite("The data pump's producer settings")
struct DataPumpSettingsTests {
    @Test("one produce request in flight, no message timeout, a 1 ms linger, idempotent; a pipeline's kafka.properties override them")
    func settings() {
        var connection = KafkaConnectionConfiguration(brokers: "127.0.0.1:1")
        let properties = DataPump.producerConfiguration(connection).librdkafkaProperties
        #expect(properties["max.in.flight.requests.per.connection"] == "1")
        #expect(properties["message.timeout.ms"] == "0")
        #expect(properties["linger.ms"] == "1")
        #expect(properties["enable.idempotence"] == "true")
        connection.properties["max.in.flight.requests.per.connection"] = "5"
        #expect(DataPump.producerConfiguration(connection).librdkafkaProperties["max.in.flight.requests.per.connection"] == "5")
    }
}
