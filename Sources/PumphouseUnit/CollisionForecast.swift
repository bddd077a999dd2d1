import PumphouseBlocking

/// How many collisions a replicated cache can expect: the space-based architecture
/// chapter's estimate, collisions per second = N × UR² / S × RL, for N units holding
/// the cache, UR updates per second to it, S entities in it and a replication latency
/// RL in seconds.
///
/// An operator weighs it before choosing replicated caching for a cache, and again with
/// measured rates (peak, normal, minimum): a share of updates that collide too large
/// for the business is the cue to make the cache partitioned, where one owner decides
/// each key and nothing collides.
package struct CollisionForecast: Sendable, Equatable {
    /// Units holding the same cache (N).
    package var instances: Int
    /// Updates to the cache per second (UR).
    package var updatesPerSecond: Double
    /// Entities in the cache (S).
    package var cacheSize: Int
    /// Time for a change to reach the other units (RL).
    package var replicationLatency: Duration

    package init(instances: Int, updatesPerSecond: Double, cacheSize: Int, replicationLatency: Duration) {
        self.instances = instances
        self.updatesPerSecond = updatesPerSecond
        self.cacheSize = cacheSize
        self.replicationLatency = replicationLatency
    }

    package var collisionsPerSecond: Double {
        let latency = replicationLatency.inSeconds
        return Double(instances) * updatesPerSecond * updatesPerSecond / Double(cacheSize) * latency
    }

    package var collisionsPerHour: Double { collisionsPerSecond * 3_600 }
    package var updatesPerHour: Double { updatesPerSecond * 3_600 }

    /// Collisions as a share of updates (0.0002 is 0.02%).
    package var collisionShare: Double { updatesPerSecond > 0 ? collisionsPerSecond / updatesPerSecond : 0 }
}
