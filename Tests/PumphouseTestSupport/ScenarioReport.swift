import Foundation

/// One run of a fault scenario as `make soak` tabulates it: how much went through, how
/// much of it was lost or applied twice, and how long the pipeline took to converge once
/// the fault ended.
public struct ScenarioOutcome: Codable, Sendable {
    public var scenario: String
    public var runs: Int
    public var contracts: Int
    public var lost: Int
    public var duplicated: Int
    public var convergeSeconds: Double

    /// `converged: false` records a run that never got there (with what it lost, and the
    /// time it was given): the table marks it rather than leaving the scenario out.
    public init(scenario: String, runs: Int, contracts: Int, lost: Int, duplicated: Int, converge: Duration, converged: Bool = true) {
        self.scenario = converged ? scenario : "\(scenario) (did not converge)"
        self.runs = runs
        self.contracts = contracts
        self.lost = lost
        self.duplicated = duplicated
        let parts = converge.components
        self.convergeSeconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// Appends outcomes to the file named by `PUMPHOUSE_SOAK_REPORT`, one JSON object per
/// line, for `Tests/soak/run` to print; without the variable (plain `make test`) it
/// does nothing. Lines are appended whole, so scenarios may run in one process.
public enum ScenarioReport {
    public static func record(_ outcome: ScenarioOutcome) throws {
        guard let path = ProcessInfo.processInfo.environment["PUMPHOUSE_SOAK_REPORT"], !path.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var line = try encoder.encode(outcome)
        line.append(UInt8(ascii: "\n"))
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }
}
