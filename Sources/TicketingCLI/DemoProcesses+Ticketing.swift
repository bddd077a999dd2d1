import Foundation
import PumphouseCommandLine

extension DemoProcesses {
    /// Starts the ticketing unit `id` on pipeline file `config`, serving HTTP on `port`
    /// of the loopback address (which it announces to its peers), its spool under
    /// `spoolDirectory`, its non-public routes open to `adminToken`; the `ticketing` in
    /// `directory` where given (another build's).
    func startUnit(_ id: String, config: String, port: Int, spoolDirectory: String, from directory: URL? = nil) throws {
        try start(id, "ticketing", [
            "unit", "--config", config, "--id", id, "--address", "127.0.0.1:\(port)", "--http-port", "\(port)", "--spool-directory", spoolDirectory,
        ], environment: ["PUMPHOUSE_ADMIN_TOKEN": adminToken], from: directory)
    }

    /// Returns once every one of `urls` answers /readyz with 200; throws if one of `names`
    /// exits first, or after `timeout`.
    func awaitReady(_ names: [String], at urls: [String], client: BoxOfficeClient, timeout: Duration, what: String) async throws {
        try await awaitReady(names, at: urls, timeout: timeout, what: what) { try? await client.get("/readyz", at: $0).status }
    }
}
