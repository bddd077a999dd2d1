import PumphouseUnit
import Testing

@Suite("Collision forecast")
struct CollisionForecastTests {
    /// The chapter's four worked examples: its collisions per hour and percentages.
    @Test("N × UR² / S × RL reproduces the chapter's worked examples", arguments: [
        (5, 50_000, 100.0, 14.4, 0.0002),
        (5, 50_000, 1.0, 0.144, 0.000002),
        (2, 50_000, 100.0, 5.76, 0.00008),
        (5, 10_000, 100.0, 72.0, 0.001),
    ])
    func workedExamples(instances: Int, cacheSize: Int, latencyMs: Double, perHour: Double, share: Double) {
        let forecast = CollisionForecast(
            instances: instances, updatesPerSecond: 20, cacheSize: cacheSize, replicationLatency: .microseconds(Int64(latencyMs * 1_000))
        )
        #expect(forecast.updatesPerHour == 72_000)
        #expect(abs(forecast.collisionsPerHour - perHour) < 1e-9, "\(forecast.collisionsPerHour) per hour")
        #expect(abs(forecast.collisionShare - share) < 1e-12, "\(forecast.collisionShare)")
    }

    @Test("no updates, no collisions and no share (not a division by zero)")
    func idle() {
        let forecast = CollisionForecast(instances: 3, updatesPerSecond: 0, cacheSize: 10, replicationLatency: .milliseconds(100))
        #expect(forecast.collisionsPerHour == 0 && forecast.collisionShare == 0)
    }
}
