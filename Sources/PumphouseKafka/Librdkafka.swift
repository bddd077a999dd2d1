import CRDKafka

/// The librdkafka the process actually runs with, which may differ from the headers it
/// was compiled against (the local stack swaps in a newer one at run time).
public enum Librdkafka {
    /// e.g. `2.16.0`.
    public static var runtimeVersion: String { String(cString: rd_kafka_version_str()) }
    /// The version of the headers Pumphouse was built with.
    public static var compiledVersion: String {
        let v = UInt32(RD_KAFKA_VERSION)
        return "\(v >> 24 & 0xff).\(v >> 16 & 0xff).\(v >> 8 & 0xff)"
    }

    /// Oldest runtime known to speak to every broker Pumphouse is tested with; older
    /// ones fail the ApiVersions handshake with some Kafka-protocol brokers.
    public static let minimumRecommendedVersion = (2, 3)

    public static var isRuntimeRecommended: Bool {
        let parts = runtimeVersion.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return (parts[0], parts[1]) >= minimumRecommendedVersion
    }
}
