import Logging
import PumphousePipeline
import PumphousePostgres
import Synchronization

/// Samples write-behind lag during the on-sale: every 250 ms, how old the newest sale in
/// PostgreSQL is. While sales keep coming that is the time from a unit selling a seat
/// to the writer committing it, give or take the sampling interval.
final class WriteBehindSampler: Sendable {
    private let configuration: PipelineConfiguration
    private let concerts: [String]
    private let logger: Logger
    private let taken = Mutex<[Int64]>([])

    init(configuration: PipelineConfiguration, concerts: [String], logger: Logger) {
        self.configuration = configuration
        self.concerts = concerts
        self.logger = logger
    }

    func run() async {
        guard let db = try? await PostgresConnection.connect(configuration: configuration.postgres, logger: logger) else { return }
        while !Task.isCancelled {
            let age = try? await db.query(
                "SELECT (extract(epoch FROM clock_timestamp() - max(sold_at)) * 1000)::bigint FROM ticketing_sale WHERE concert = ANY($1)", [concerts]
            ).scalar(Int64.self)
            if let age { taken.withLock { $0.append(max(0, age)) } }
            try? await Task.sleep(for: .milliseconds(250))
        }
        await db.close()
    }

    func samples() -> [Int64] { taken.withLock { $0 } }
}
