import PumphouseContracts
import PumphouseKafka

extension ContractRegistry {
    /// Decodes a consumed message where its bytes lie: the key, the body and the headers
    /// are read in place, so a consumer's only copy of a change is the one it keeps.
    package func decodeRecord(_ message: KafkaMessage) throws(ContractError) -> PartitionRecord {
        try message.withUnsafeRecord { (key, value, headers) throws(ContractError) in try decodeRecord(key: key, value: value, headers: headers) }
    }

    /// `decode(key:value:headers:)` of a consumed message, read in place.
    package func decode(_ message: KafkaMessage) throws(ContractError) -> Contract {
        try message.withUnsafeRecord { (key, value, headers) throws(ContractError) in try decode(key: key, value: value, headers: headers) }
    }
}
