import Logging
import PumphouseObservability
import ServiceLifecycle

/// Runs a worker command's service until SIGTERM or SIGINT: the group shuts down
/// gracefully when `main` ends either way, `companions` run beside it, and with a port
/// /metrics, /healthz and /readyz are served as well.
public func runUntilSignalled(
    _ main: some Service,
    alongside companions: [any Service] = [],
    httpPort: Int? = nil,
    logger: Logger,
    readiness: @escaping @Sendable () -> Readiness = { Readiness(isReady: true, reason: "running") }
) async throws {
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
        .init(service: main, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
    ]
    services += companions.map { .init(service: $0) }
    if let httpPort {
        services.append(.init(service: ServiceEndpoints.service(port: httpPort, logger: logger, readiness: readiness)))
        logger.info("serving /metrics, /healthz and /readyz on port \(httpPort)")
    }
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}
