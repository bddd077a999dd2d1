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
public struct CollisionForecast: Sendable, Equatable {
    /// Units holding the same cache (N).
    public var instances: Int
    /// Updates to the cache per second (UR).
    public var updatesPerSecond: Double
    /// Entities in the cache (S).
    public var cacheSize: Int
    /// Time for a change to reach the other units (RL).
    public var replicationLatency: Duration

    public init(instances: Int, updatesPerSecond: Double, cacheSize: Int, replicationLatency: Duration) {
        self.instances = instances
        self.updatesPerSecond = updatesPerSecond
        self.cacheSize = cacheSize
        self.replicationLatency = replicationLatency
    }

    public var collisionsPerSecond: Double {
        let latency = replicationLatency.inSeconds
        return Double(instances) * updatesPerSecond * updatesPerSecond / Double(cacheSize) * latency
    }

    public var collisionsPerHour: Double { collisionsPerSecond * 3_600 }
    public var updatesPerHour: Double { updatesPerSecond * 3_600 }

    /// Collisions as a share of updates (0.0002 is 0.02%).
    public var collisionShare: Double { updatesPerSecond > 0 ? collisionsPerSecond / updatesPerSecond : 0 }
}
