import ArgumentParser
import PumphouseCommandLine

/// System benchmarks that need the pipeline's own parts in one process beside a
/// reference measured in the same run. `Benchmarks/run` (`make bench`) drives them on the
/// local stack; each prints human lines on standard error and its figures on standard
/// output as `key=value`, which the run collects into `.bench/latest.json`.
@main
struct PumphouseBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pumphouse-bench",
        abstract: "Pumphouse system benchmarks (run them through `make bench`).",
        subcommands: [PumpBenchmark.self, LatencyBenchmark.self, BrokerLatencyBenchmark.self, NaiveWriterBenchmark.self, RawConsumeBenchmark.self]
    )

    static func main() async {
        await runReportingUsageErrors()
    }
}
