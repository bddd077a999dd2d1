import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PumphouseCommandLine
import PumphouseObservability
import PumphousePostgres
import Ticketing

/// The HTTP server options every box office shares (the unit's, the twin's and the bare
/// one's), so the benchmark's three servers differ only in what keeps the seats.
struct HTTPServerOptions: ParsableArguments {
    @Option(help: "Port of the HTTP API (with /metrics, /healthz and /readyz).")
    var httpPort: Int

    @Option(help: "Address the HTTP API binds to: loopback unless told otherwise (0.0.0.0 for every interface, as a container or a pod needs).")
    var httpHost = "127.0.0.1"

    @Option(help: "Seconds a reserve holds a seat.")
    var holdS = 120

    func validate() throws {
        guard (1...65535).contains(httpPort) else { throw ValidationError("--http-port must be between 1 and 65535, not \(httpPort)") }
        guard (1...86_400).contains(holdS) else { throw ValidationError("--hold-s must be between 1 and 86400 seconds") }
    }

    func serve(_ office: some BoxOfficeService, logger: Logger) async throws {
        let api = Application(
            router: TicketingAPI.routes(office),
            server: .pumphouse,
            configuration: .init(address: .hostname(httpHost, port: httpPort), serverName: "ticketing"),
            logger: logger
        )
        try await runUntilSignalled(api, logger: logger)
    }
}

/// `ticketing twin`: the database-first twin (docs/benchmarks.md, the on-sale).
struct TwinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twin",
        abstract: "Serve the box office's routes straight from PostgreSQL (one transaction per request, row locks, no caches, no Kafka): the on-sale benchmark's database-first twin.",
        discussion: "Tables PREFIX_concert, PREFIX_seat and PREFIX_sale, shaped like Migrations/0004_ticketing.sql's (the default prefix, ticketing, is the sample's own tables)."
    )

    @OptionGroup var http: HTTPServerOptions

    @Option(help: "PostgreSQL URL (libpq URL or key=value string). Default: $PUMPHOUSE_POSTGRES_URL.")
    var postgresURL: String?

    @Option(help: "Connections in this process's pool.")
    var pool = 8

    @Option(help: "Prefix of the three tables.")
    var tables = "ticketing"

    @Option(help: "Seller id written into each sale's unit column.")
    var id = "twin"

    func validate() throws {
        guard (1...256).contains(pool) else { throw ValidationError("--pool must be between 1 and 256, not \(pool)") }
        do { _ = try DatabaseBoxOffice.Tables(prefix: tables) } catch { throw ValidationError("--tables: \(error)") }
    }

    func run() async throws {
        let logger = Logger(label: "ticketing.twin")
        ServiceEndpoints.bootstrapMetrics()
        guard let url = postgresURL ?? ProcessInfo.processInfo.environment["PUMPHOUSE_POSTGRES_URL"] else {
            throw UsageError("give --postgres-url or set PUMPHOUSE_POSTGRES_URL")
        }
        var configuration = PostgresConfiguration(url: url)
        configuration.applicationName = "ticketing-twin"
        if let problem = configuration.urlProblem { throw UsageError("--postgres-url \(configuration.redactedURL): \(problem)") }
        let connections = try await PostgresPool.connect(configuration: configuration, size: pool, logger: logger)
        let office = DatabaseBoxOffice(pool: connections, tables: try DatabaseBoxOffice.Tables(prefix: tables), id: id, holdDuration: .seconds(http.holdS))
        logger.info("serving the box office from \(configuration.redactedURL) (\(tables)_* tables, \(connections.size) connections) on \(http.httpHost):\(http.httpPort)")
        do {
            try await http.serve(office, logger: logger)
        } catch {
            await connections.close()
            throw error
        }
        await connections.close()
    }
}

/// `ticketing bare`: the bare ceiling (docs/benchmarks.md, the on-sale).
struct BareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bare",
        abstract: "Serve the box office's routes from a dictionary in this process (no log, no database, nothing shared, nothing kept): the on-sale benchmark's ceiling."
    )

    @OptionGroup var http: HTTPServerOptions

    @Option(help: "Seller id written into each sale.")
    var id = "bare"

    func run() async throws {
        let logger = Logger(label: "ticketing.bare")
        ServiceEndpoints.bootstrapMetrics()
        logger.info("serving the box office from memory on \(http.httpHost):\(http.httpPort)")
        try await http.serve(DictionaryBoxOffice(id: id, holdDuration: .seconds(http.holdS)), logger: logger)
    }
}

/// `ticketing pgbench-script`: the twin's purchase as a pgbench script, so pgbench runs
/// the very statement the twin prepares.
struct PgbenchScriptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgbench-script",
        abstract: "Print a pgbench script running the twin's purchase statement on a random seat of one concert.",
        discussion: "The seats are CONCERT/A-1 to CONCERT/A-SEATS (lay them out first); each transaction buys one at random, as the twin does on a purchase."
    )

    @Option(help: "Prefix of the three tables.")
    var tables = "ticketing"

    @Option(help: "The concert whose seats are bought.")
    var concert: String

    @Option(help: "Seats in row A of the concert.")
    var seats: Int

    func validate() throws {
        guard seats > 0 else { throw ValidationError("--seats must be positive") }
        guard !concert.isEmpty, concert.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw ValidationError("--concert must be ASCII letters, digits or '-'")
        }
        do { _ = try DatabaseBoxOffice.Tables(prefix: tables) } catch { throw ValidationError("--tables: \(error)") }
    }

    func run() throws {
        let sql = DatabaseBoxOffice.purchaseSQL(try DatabaseBoxOffice.Tables(prefix: tables))
        // pgbench's own variables in place of the bound parameters; one line per statement.
        let bound = sql
            .replacingOccurrences(of: "$1", with: "('\(concert)/A-' || :seat)")
            .replacingOccurrences(of: "$2", with: "('pgb-' || gen_random_uuid())")
            .replacingOccurrences(of: "$3", with: "'pgbench'")
            .replacingOccurrences(of: "$4", with: "'h-pgbench'")
            .replacingOccurrences(of: "$5", with: "'pgbench'")
        print("\\set seat random(1, \(seats))")
        print(bound.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") + ";")
    }
}
