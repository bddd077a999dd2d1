import PumphouseKafka

extension PipelineConfiguration {
    /// Every topic the pipeline needs: one per cache and its reverse pump, one
    /// dead-letter topic per writer, the member topic and the read-request topic.
    package var topicSpecifications: [KafkaTopicSpecification] {
        var specifications = caches.map { cache in
            KafkaTopicSpecification(name: cache.topic, partitions: cache.partitions, replicationFactor: cache.replicationFactor, configs: cache.topicConfigs)
        }
        for writer in writers where !specifications.contains(where: { $0.name == writer.deadLetterTopic }) {
            let replication = caches.first { writer.caches.contains($0.contract) }?.replicationFactor ?? -1
            specifications.append(KafkaTopicSpecification(name: writer.deadLetterTopic, partitions: 1, replicationFactor: replication))
        }
        for cache in caches {
            // One partition: a load's rows and its end marker stay in order. The reverse
            // topic keeps a cache's latest snapshot for warm starts, so it keeps what the
            // cache topic keeps.
            let retention = cache.topicConfigs.filter { ["retention.ms", "retention.bytes"].contains($0.key) }
            specifications.append(KafkaTopicSpecification(name: cache.reverseTopic, partitions: 1, replicationFactor: cache.replicationFactor, configs: retention))
        }
        if !caches.isEmpty {
            // Announcements are only worth a few heartbeats: an hour of them is plenty.
            specifications.append(KafkaTopicSpecification(
                name: memberTopic, partitions: 1, replicationFactor: caches.map(\.replicationFactor).max() ?? -1,
                configs: ["retention.ms": "3600000"]
            ))
            specifications.append(KafkaTopicSpecification(
                name: reader.requestTopic, partitions: reader.requestPartitions, replicationFactor: caches.map(\.replicationFactor).max() ?? -1,
                configs: ["retention.ms": "3600000"]
            ))
        }
        return specifications
    }
}
