import Foundation
import Logging
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit
import ServiceLifecycle

/// Processing units hosted in this process as services, the way an application runs
/// one, each with its bench.Account cache open and whatever services drive it alongside.
struct InProcessUnits {
    let units: [ProcessingUnit]
    let accounts: [ReplicatedCache<BenchAccount>]
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Starts `count` units on a fresh spool each and returns once all have loaded.
    static func start(
        _ count: Int, pipeline: PipelineConfiguration, idPrefix: String, spoolDirectory: String,
        logger: Logger, alongside: (ProcessingUnit, ReplicatedCache<BenchAccount>) -> [any Service] = { _, _ in [] }
    ) async throws -> InProcessUnits {
        var units: [ProcessingUnit] = []
        var accounts: [ReplicatedCache<BenchAccount>] = []
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for index in 0..<count {
            let id = "\(idPrefix)-\(index)"
            var configuration = UnitConfiguration(pipeline: pipeline, unitID: id, address: "127.0.0.1:0", spoolDirectory: "\(spoolDirectory)/\(id)")
            // A burst at full speed may leave seconds of changes unacknowledged.
            configuration.spoolMaxPendingBytes = 4 << 30
            let unit = try ProcessingUnit(configuration: configuration, logger: logger)
            let cache = try unit.cache(BenchAccount.self)
            units.append(unit)
            accounts.append(cache)
            services.append(.init(service: unit))
            services += alongside(unit, cache).map { .init(service: $0) }
        }
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        let running = InProcessUnits(units: units, accounts: accounts, group: group, task: task)
        do {
            // `loaded()` cannot be cancelled, so a bounded wait polls `isLoaded` instead.
            for unit in units {
                try await awaitCondition("unit \(unit.id) to load its caches", timeout: .seconds(120), every: .milliseconds(10)) { unit.isLoaded }
            }
        } catch {
            try? await running.stop()
            throw error
        }
        return running
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
