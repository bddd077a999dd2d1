import ArgumentParser
import Hummingbird
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseObservability
import PumphouseUnit
import ServiceLifecycle
import Ticketing

struct TicketingUnitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Run a ticketing processing unit until SIGTERM or SIGINT: the ticketing.Concert, ticketing.Seat and ticketing.Sale caches behind an HTTP API.",
        discussion: "Endpoints: GET /concerts, POST /concerts, GET /concerts/{concert}/summary, GET /concerts/{concert}/seats, POST /concerts/{concert}/seats/{seat}/reserve|purchase|release, GET /routing, /metrics, /healthz, /readyz; not public: GET /admin/state and /admin/undecided, with Authorization: Bearer and a token from --admin-token-file or PUMPHOUSE_ADMIN_TOKEN. See docs/ticketing.md and docs/configuration.md."
    )

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var unit: UnitOptions

    @OptionGroup var http: HTTPServerOptions

    @OptionGroup var admin: AdminOptions

    func run() async throws {
        let pipeline = try self.pipeline.load()
        for contract in [Concert.contract, Seat.contract, Sale.contract] where pipeline.cache(contract) == nil {
            throw UsageError("\(self.pipeline.config) declares no \(contract) cache; the ticketing unit needs ticketing.Concert, ticketing.Seat and ticketing.Sale (see deploy/local/pipeline.yaml)")
        }
        let logger = Logger(label: "ticketing.unit.\(self.unit.id)")
        let credential = try admin.credential(logger: logger)
        ServiceEndpoints.bootstrapMetrics()
        logger.info("ticketing unit \(self.unit.id), librdkafka \(Librdkafka.runtimeVersion)")
        let configuration = self.unit.configuration(pipeline: pipeline, defaultAddress: "127.0.0.1:\(http.httpPort)")
        // Before the unit opens its spool, as `pumphouse unit` does.
        try await self.pipeline.checkBroker(pipeline)
        let unit: ProcessingUnit
        let office: BoxOffice
        do {
            unit = try ProcessingUnit(configuration: configuration, logger: logger)
            office = try BoxOffice(unit: unit, holdDuration: .seconds(http.holdS))
        } catch {
            throw UsageError("\(error)")
        }
        let api = Application(
            router: TicketingAPI.router(office, admin: credential),
            server: .pumphouse,
            configuration: .init(address: .hostname(http.httpHost, port: http.httpPort), serverName: "ticketing"),
            logger: logger
        )
        logger.info("serving the box office, /metrics, /healthz and /readyz on \(http.httpHost):\(http.httpPort); /admin/ \(credential.map { "opens to a bearer token from \($0.origin)" } ?? "refuses every request (no admin credential)")")
        try await runUntilSignalled(unit, alongside: [api], logger: logger)
    }
}
