/// Which librdkafka properties carry secrets, so they can be shown without their values.
///
/// Pumphouse logs its effective configuration at start-up; a leaked SASL password in a
/// log aggregator is a real incident, so anything that looks like a credential is masked.
public enum KafkaSecrets {
    static let markers = [
        "password", "passphrase", "secret", "sasl.oauthbearer.config", "ssl.key.pem", "key.pem", "private.key", "private_key", "ssl_key", "token", "credential",
    ]

    public static func isSecret(property name: String) -> Bool {
        let lowered = name.lowercased()
        return markers.contains { lowered.contains($0) }
    }

    /// The properties with secret values replaced by `***`.
    public static func redacted(_ properties: [String: String]) -> [String: String] {
        properties.reduce(into: [:]) { out, entry in
            out[entry.key] = isSecret(property: entry.key) ? "***" : entry.value
        }
    }
}
