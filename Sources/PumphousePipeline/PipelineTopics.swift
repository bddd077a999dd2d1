import PumphouseKafka

extension PipelineConfiguration {
    /// Every topic the pipeline needs: one per cache, one dead-letter topic per writer.
    public var topicSpecifications: [KafkaTopicSpecification] {
        var specifications = caches.map { cache in
            KafkaTopicSpecification(name: cache.topic, partitions: cache.partitions, replicationFactor: cache.replicationFactor, configs: cache.topicConfigs)
        }
        for writer in writers where !specifications.contains(where: { $0.name == writer.deadLetterTopic }) {
            let replication = caches.first { writer.caches.contains($0.contract) }?.replicationFactor ?? -1
            specifications.append(KafkaTopicSpecification(name: writer.deadLetterTopic, partitions: 1, replicationFactor: replication))
        }
        if !caches.isEmpty {
            // Announcements are only worth a few heartbeats: an hour of them is plenty.
            specifications.append(KafkaTopicSpecification(
                name: memberTopic, partitions: 1, replicationFactor: caches.map(\.replicationFactor).max() ?? -1,
                configs: ["retention.ms": "3600000"]
            ))
        }
        return specifications
    }
}
