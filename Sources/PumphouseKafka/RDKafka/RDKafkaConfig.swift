import CRDKafka

/// Builds an `rd_kafka_conf_t` from properties, failing on the first one librdkafka
/// rejects, with the property named (its value only if it is not a secret).
package enum RDKafkaConfig {
    package static func make(_ properties: [String: String], operation: String) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidArgument("librdkafka could not allocate a configuration", operation: operation)
        }
        var errorText = [CChar](repeating: 0, count: 512)
        // Sorted so the first failure reported is the same on every run.
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                // A name librdkafka does not know may be a secret's, misspelled, or one a
                // newer librdkafka knows (sasl.oauthbearer.assertion.private.key.passphrase
                // on an older one): its value is never shown, nor a secret's, and neither
                // in librdkafka's own reason, which may quote it.
                let hidden = result == RD_KAFKA_CONF_UNKNOWN || KafkaSecrets.isSecret(property: name)
                var reason = String(cBuffer: errorText)
                if hidden, !value.isEmpty { reason = reason.replacing(value, with: "***") }
                let shown = hidden ? "***" : value
                let fix = result == RD_KAFKA_CONF_UNKNOWN
                    ? "remove it or correct its spelling; librdkafka's CONFIGURATION.md lists the valid properties"
                    : "correct its value"
                throw KafkaError.invalidArgument(
                    "configuration property \"\(name)\" = \"\(shown)\" rejected: \(reason); \(fix)",
                    operation: operation
                )
            }
        }
        return conf
    }

    /// Whether librdkafka takes every property (a name it knows, a value it accepts),
    /// checked without building a client: what a start-up check can say about settings
    /// only one kind of client receives.
    package static func check(_ properties: [String: String], operation: String) throws(KafkaError) {
        rd_kafka_conf_destroy(try make(properties, operation: operation))
    }
}
