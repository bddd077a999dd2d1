/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    /// More partitions mean more parallel writers; keys never move between partitions
    /// while the count stays, so per-key order holds.
    public var partitions: Int
    /// -1 takes the broker's default.
    public var replicationFactor: Int
    /// Topic configs, e.g. `retention.ms` or `cleanup.policy`.
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }

    /// Why Kafka would refuse `name` as a topic name, or nil: a pipeline file's names are
    /// checked with it when the file loads, so the error names the setting and the fix.
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." || name.utf8.count > 249 {
            return "topic name \"\(name)\" is invalid: use 1 to 249 characters, not \".\" or \"..\""
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if let bad = name.first(where: { !allowed.contains($0) }) {
            return "topic name \"\(name)\" contains \"\(bad)\": use only letters, digits, '.', '_' and '-'"
        }
        return nil
    }

    /// Kafka's own rules, checked before asking the broker so the error names the fix.
    var validationProblem: String? {
        if let problem = Self.nameProblem(name) { return problem }
        if partitions < 1 {
            return "topic \"\(name)\" needs at least 1 partition, not \(partitions)"
        }
        if replicationFactor == 0 || replicationFactor < -1 {
            return "topic \"\(name)\" replication factor \(replicationFactor) is invalid: use -1 (broker default) or at least 1"
        }
        return nil
    }
}

/// A topic as the cluster's metadata describes it.
public struct KafkaTopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
    }

    public var name: String
    public var partitions: [Partition]
}
