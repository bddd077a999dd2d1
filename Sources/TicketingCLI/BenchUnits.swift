import Foundation
import PumphouseCommandLine

/// The ticketing units a benchmark runs itself (failover, rebalancing): this executable's
/// `unit` at consecutive loopback ports, their spools and logs in one directory.
struct BenchUnits {
    let processes: DemoProcesses
    let config: String
    let basePort: Int
    let workDirectory: String

    init(config: String, basePort: Int, workDirectory: String) throws {
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        processes = try DemoProcesses(binaries: binaries, logs: URL(fileURLWithPath: workDirectory).appendingPathComponent("logs"))
        self.config = config
        self.basePort = basePort
        self.workDirectory = workDirectory
    }

    /// The base URL of unit `index`.
    func url(_ index: Int) -> String { "http://127.0.0.1:\(basePort + index)" }

    /// Starts unit `index` as `id`, with its spool in the shared directory (a unit started
    /// again with its id finds its own); the `ticketing` in `directory` where given.
    func start(_ index: Int, id: String, from directory: URL? = nil) throws {
        try processes.startUnit(id, config: config, port: basePort + index, spoolDirectory: "\(workDirectory)/spool", from: directory)
    }

    /// Fails if something already answers at one of `urls`, then clears an earlier run's spools.
    func prepare(_ urls: [String], client: BoxOfficeClient) async throws {
        for url in urls where (try? await client.get("/healthz", at: url)) != nil {
            throw DemoFailure("something already answers at \(url): stop it or pass --base-port")
        }
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: workDirectory).appendingPathComponent("spool"))
    }
}
