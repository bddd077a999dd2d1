import ArgumentParser
import Auctions
import Hummingbird
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseObservability
import PumphouseUnit

struct AuctionUnitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Run an auction processing unit until SIGTERM or SIGINT: the auction.Auction and auction.Bid caches behind an HTTP API.",
        discussion: "Endpoints: POST /auctions, GET /auctions/{auction}, GET|POST /auctions/{auction}/bids, GET /routing, /metrics, /healthz, /readyz. See docs/auction.md."
    )

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var unit: UnitOptions

    @Option(help: "Address the HTTP API binds to: loopback unless told otherwise (0.0.0.0 for every interface, as a container or a pod needs).")
    var httpHost = "127.0.0.1"

    @Option(help: "Port of the HTTP API (with /routing, /metrics, /healthz and /readyz).")
    var httpPort: Int

    func validate() throws {
        guard (1...65535).contains(httpPort) else { throw ValidationError("--http-port must be between 1 and 65535, not \(httpPort)") }
    }

    func run() async throws {
        let pipeline = try self.pipeline.load()
        for contract in [Auction.contract, Bid.contract] where pipeline.cache(contract) == nil {
            throw UsageError("\(self.pipeline.config) declares no \(contract) cache; the auction unit needs auction.Auction and auction.Bid (see deploy/local/pipeline.yaml)")
        }
        let logger = Logger(label: "auction.unit.\(self.unit.id)")
        ServiceEndpoints.bootstrapMetrics()
        logger.info("auction unit \(self.unit.id), librdkafka \(Librdkafka.runtimeVersion)")
        let configuration = self.unit.configuration(pipeline: pipeline, defaultAddress: "\(httpHost):\(httpPort)")
        try await self.pipeline.checkBroker(pipeline)
        let unit: ProcessingUnit
        let house: AuctionHouse
        do {
            unit = try ProcessingUnit(configuration: configuration, logger: logger)
            house = try AuctionHouse(unit: unit)
        } catch {
            throw UsageError("\(error)")
        }
        let api = Application(
            router: AuctionAPI.router(house),
            server: .pumphouse,
            configuration: .init(address: .hostname(httpHost, port: httpPort), serverName: "auction"),
            logger: logger
        )
        logger.info("serving the auction house, /routing, /metrics, /healthz and /readyz on \(httpHost):\(httpPort)")
        try await runUntilSignalled(unit, alongside: [api], logger: logger)
    }
}
