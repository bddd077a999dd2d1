import ArgumentParser
import PumphouseCommandLine

/// The concert-ticketing sample: a processing unit with an HTTP box office, and the
/// demo that runs three of them through an on-sale and a full outage.
@main
struct Ticketing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticketing",
        abstract: "The Pumphouse concert-ticketing sample: processing units selling seats from replicated caches.",
        subcommands: [TicketingUnitCommand.self, DemoCommand.self, TwinCommand.self, BareCommand.self, OnSaleBenchCommand.self, FailoverBenchCommand.self, RebalanceBenchCommand.self, PgbenchScriptCommand.self]
    )

    static func main() async {
        await runReportingUsageErrors()
    }
}
