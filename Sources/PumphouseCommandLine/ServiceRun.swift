import Hummingbird
import Logging
import PumphouseObservability
import ServiceLifecycle

/// Runs a worker command's service until SIGTERM or SIGINT: the group shuts down
/// gracefully when `main` ends either way, `companions` run beside it, and with a port
/// /metrics, /healthz and /readyz are served as well, and whatever `routes` adds.
package func runUntilSignalled(
    _ main: some Service,
    alongside companions: [any Service] = [],
    httpPort: Int? = nil,
    logger: Logger,
    readiness: @escaping @Sendable () -> Readiness = { Readiness(isReady: true, reason: "running") },
    routes: (Router<BasicRequestContext>) -> Void = { _ in }
) async throws {
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
        .init(service: main, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
    ]
    services += companions.map { .init(service: $0) }
    if let httpPort {
        let host = try serviceHost(ProcessEnvironment()[serviceHostVariable])
        services.append(.init(service: ServiceEndpoints.service(host: host, port: httpPort, logger: logger, readiness: readiness, routes: routes)))
        logger.info("serving /metrics, /healthz and /readyz on \(host):\(httpPort)")
    }
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// The environment variable naming the address a service's health-and-metrics port binds
/// to.
package let serviceHostVariable = "PUMPHOUSE_HTTP_HOST"

/// The address the port binds to: loopback unless `PUMPHOUSE_HTTP_HOST` says otherwise
/// (`0.0.0.0` where probes and Prometheus come from outside, as in a pod). A value that
/// cannot be an address is a usage error naming the variable.
package func serviceHost(_ value: String?) throws -> String {
    guard let value else { return "127.0.0.1" }
    let allowed = value.utf8.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
    }
    guard allowed, value.utf8.count <= 253 else {
        throw UsageError("\(serviceHostVariable)=\(value) is not an address to bind to; use an IP address such as 127.0.0.1 or 0.0.0.0, or a host name")
    }
    return value
}
