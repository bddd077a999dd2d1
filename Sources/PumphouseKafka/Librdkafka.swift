import CRDKafka
import NIOPosix
import PumphouseBlocking

/// The librdkafka the process actually runs with, which may differ from the headers it
/// was compiled against (the local stack swaps in a newer one at run time).
public enum Librdkafka {
    /// e.g. `2.16.0`.
    public static var runtimeVersion: String { String(cString: rd_kafka_version_str()) }
    /// The version of the headers Pumphouse was built with.
    public static var compiledVersion: String { text(UInt32(RD_KAFKA_VERSION)) }

    /// Oldest runtime Pumphouse runs with: the headers it was compiled against. An older
    /// library may lack functions those headers declare, or give them other meanings;
    /// the dynamic linker only catches the first, and only when a function is called.
    public static var requiredVersion: String { compiledVersion }

    /// Oldest runtime known to speak to every broker Pumphouse is tested with; older
    /// ones fail the ApiVersions handshake with some Kafka-protocol brokers.
    public static let minimumRecommendedVersion = (2, 3)

    public static var isRuntimeRecommended: Bool {
        let parts = runtimeVersion.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return (parts[0], parts[1]) >= minimumRecommendedVersion
    }

    /// Whether the runtime library has `fetch.queue.backoff.ms` (added in 2.1.0).
    static var runtimeHasFetchQueueBackoff: Bool {
        UInt32(bitPattern: rd_kafka_version()) >> 8 >= 0x02_01_00
    }

    /// Why the runtime library cannot be used, if it cannot; every client checks this
    /// before it is made.
    static var runtimeProblem: String? {
        problem(runtime: UInt32(bitPattern: rd_kafka_version()), required: UInt32(RD_KAFKA_VERSION))
    }

    /// Compares librdkafka's version numbers (`0xMMmmrrpp`: major, minor, revision, and a
    /// pre-release byte, 0xff for a release) by major, minor and revision.
    static func problem(runtime: UInt32, required: UInt32) -> String? {
        guard runtime >> 8 < required >> 8 else { return nil }
        return "the process runs librdkafka \(text(runtime)), older than \(text(required)), the oldest Pumphouse works with (the version it was built against): install librdkafka \(text(required)) or newer, or put a directory holding a newer librdkafka.so.1 first on LD_LIBRARY_PATH"
    }

    private static func text(_ version: UInt32) -> String {
        "\(version >> 24 & 0xff).\(version >> 16 & 0xff).\(version >> 8 & 0xff)"
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
