import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// Whether a service can do its work now, and if not, why (shown by /readyz).
package struct Readiness: Sendable, Hashable {
    package var isReady: Bool
    package var reason: String

    package init(isReady: Bool, reason: String) {
        self.isReady = isReady
        self.reason = reason
    }
}

/// The HTTP endpoints every long-running Pumphouse service exposes:
/// `/healthz` (the process answers), `/readyz` (it can do its work: 200 or 503 with the
/// reason) and `/metrics` (Prometheus text format from the process's registry).
package enum ServiceEndpoints {
    /// The registry behind `/metrics`; bootstrapped into swift-metrics once per process,
    /// so every `Counter`, `Gauge` and `Timer` in the process appears there.
    package static let registry = PrometheusCollectorRegistry()

    /// Duration buckets finer than the Prometheus defaults below 10 ms: replication lag is
    /// judged against a 10 ms p99, which buckets of 5, 10 and 25 ms cannot show.
    package static let durationBuckets: [Duration] = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        .map { Duration.microseconds(Int64($0 * 1000)) }

    package static func bootstrapMetrics() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// Adds the endpoints to an application's own router, for services that serve an API
    /// of their own on the same port.
    package static func addRoutes<Context: RequestContext>(to router: Router<Context>, readiness: @escaping @Sendable () -> Readiness) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/readyz") { _, _ in
            let state = readiness()
            return Response(status: state.isReady ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: state.reason + "\n")))
        }
        router.get("/metrics") { _, _ in
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }

    /// A router of the endpoints alone: what a service without an API of its own serves.
    package static func router(readiness: @escaping @Sendable () -> Readiness) -> Router<BasicRequestContext> {
        let router = Router()
        addRoutes(to: router, readiness: readiness)
        return router
    }

    /// A service serving the endpoints on `host:port`, to run in the same service group
    /// as the service it describes.
    /// `routes` adds what else the service describes of itself (a unit's routing tables).
    package static func service(
        host: String = "0.0.0.0",
        port: Int,
        logger: Logger,
        readiness: @escaping @Sendable () -> Readiness,
        routes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some Service {
        let router = router(readiness: readiness)
        routes(router)
        return Application(
            router: router,
            server: .pumphouse,
            configuration: .init(address: .hostname(host, port: port), serverName: "pumphouse"),
            logger: logger
        )
    }
}
