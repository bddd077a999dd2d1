import CRDKafka
import NIOPosix

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

    /// Waits, up to `timeout`, until every client the process created is destroyed;
    /// false if some are still alive then.
    ///
    /// Clients are destroyed on threads of their own after their last reference goes
    /// (destroying joins librdkafka's threads), so a short command can reach its exit
    /// while one is still being torn down, and the exit handlers then run under
    /// librdkafka's threads. That is the likely cause of a `pumphouse status` that
    /// crashed once ("double free or corruption") on a busy machine. Executables call
    /// this before they exit.
    public static func waitUntilClientsDestroyed(within timeout: Duration) async -> Bool {
        let milliseconds = Int32(clamping: timeout.milliseconds)
        return (try? await NIOThreadPool.singleton.runIfActive { rd_kafka_wait_destroyed(milliseconds) == 0 }) ?? false
    }
}
