import ArgumentParser
import PumphouseCommandLine

/// The online-auction sample: a processing unit deciding the bids of the auctions it
/// owns, behind an HTTP API.
@main
struct AuctionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auction",
        abstract: "The Pumphouse online-auction sample: processing units deciding bids in partitioned caches.",
        subcommands: [AuctionUnitCommand.self, AuctionDemoCommand.self]
    )

    static func main() async {
        await runReportingUsageErrors()
    }
}
