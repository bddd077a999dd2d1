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
        return specifications
    }
}
