import CRDKafka
import Logging
import PumphouseBlocking

/// Creates, describes and deletes topics.
///
/// Pumphouse creates its topics explicitly rather than relying on broker auto-creation:
/// partition counts decide how far writers scale, and some brokers lose records produced
/// to an auto-created topic.
public final class KafkaAdmin: Sendable {
    private let handle: RDKafkaHandle
    private let requestTimeout: Duration

    public init(configuration: KafkaAdminConfiguration, logger: Logger) throws(KafkaError) {
        self.handle = try RDKafkaHandle(
            kind: .admin,
            properties: configuration.librdkafkaProperties,
            callbacks: RDKafkaCallbacks(logger: logger),
            operation: "create admin client"
        )
        self.requestTimeout = configuration.requestTimeout
    }

    /// Creates topics. With `ifNotExists`, a topic that already exists is not an error
    /// (its partition count is left as it is).
    public func createTopics(_ topics: [KafkaTopicSpecification], ifNotExists: Bool = true) async throws {
        guard !topics.isEmpty else { return }
        let operation = "create topics \(topics.map(\.name))"
        for topic in topics {
            if let problem = topic.validationProblem {
                throw KafkaError.invalidArgument(problem, operation: operation)
            }
        }
        try await topicRequest(operation, kind: RD_KAFKA_ADMIN_OP_CREATETOPICS, tolerating: ifNotExists ? .topicAlreadyExists : nil) {
            handle, options, queue throws(KafkaError) in
            var errorText = [CChar](repeating: 0, count: 512)
            var specs: [OpaquePointer?] = []
            defer { specs.forEach { rd_kafka_NewTopic_destroy($0) } }
            for topic in topics {
                guard let spec = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errorText, errorText.count) else {
                    throw KafkaError.invalidArgument("topic \"\(topic.name)\": \(String(cBuffer: errorText))", operation: operation)
                }
                specs.append(spec)
                for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                    let err = rd_kafka_NewTopic_set_config(spec, name, value)
                    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw KafkaError(err, operation: operation, detail: "topic \"\(topic.name)\" config \(name)=\(value)")
                    }
                }
            }
            specs.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
            }
        } results: { event in
            var count = 0
            let list = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
            return (list, count)
        }
    }

    /// Deletes topics; a topic that does not exist is not an error.
    public func deleteTopics(_ names: [String]) async throws {
        guard !names.isEmpty else { return }
        try await topicRequest("delete topics \(names)", kind: RD_KAFKA_ADMIN_OP_DELETETOPICS, tolerating: .unknownTopicOrPartition) {
            handle, options, queue throws(KafkaError) in
            var specs: [OpaquePointer?] = names.map { rd_kafka_DeleteTopic_new($0) }
            defer { specs.forEach { rd_kafka_DeleteTopic_destroy($0) } }
            specs.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_DeleteTopics(handle, buffer.baseAddress, buffer.count, options, queue)
            }
        } results: { event in
            var count = 0
            let list = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count)
            return (list, count)
        }
    }

    /// Sends one per-topic admin request and fails on the first topic whose result is an
    /// error other than `tolerated`.
    private func topicRequest(
        _ operation: String,
        kind: rd_kafka_admin_op_t,
        tolerating tolerated: KafkaError.Code?,
        send: @escaping @Sendable (_ handle: OpaquePointer, _ options: OpaquePointer, _ queue: OpaquePointer) throws(KafkaError) -> Void,
        results: @escaping @Sendable (OpaquePointer) -> (UnsafeMutablePointer<OpaquePointer?>?, Int)
    ) async throws {
        let timeout = requestTimeout
        let outcomes = try await run(operation) { handle, queue throws(KafkaError) in
            let options = try Self.options(handle, kind, timeout: timeout, operation: operation)
            defer { rd_kafka_AdminOptions_destroy(options) }
            try send(handle, options, queue)
            return try Self.awaitTopicResults(queue, timeout: timeout, operation: operation, topics: results)
        }
        for (name, error) in outcomes {
            guard let error, error.code != tolerated else { continue }
            throw KafkaError(code: error.code, message: "topic \"\(name)\": \(error.message)", operation: operation)
        }
    }

    /// Every topic the cluster reports, sorted by name.
    public func listTopics() async throws -> [KafkaTopicDescription] {
        try await metadata(topic: nil)
    }

    /// One topic; throws `unknownTopicOrPartition` if the cluster does not have it.
    public func describeTopic(_ name: String) async throws -> KafkaTopicDescription {
        guard let topic = try await metadata(topic: name).first(where: { $0.name == name }) else {
            throw KafkaError(code: .unknownTopicOrPartition, message: "topic \"\(name)\" does not exist", operation: "describe topic")
        }
        return topic
    }

    private func metadata(topic: String?) async throws -> [KafkaTopicDescription] {
        let timeout = requestTimeout
        let operation = topic.map { "describe topic \"\($0)\"" } ?? "list topics"
        return try await run(operation) { handle, _ throws(KafkaError) in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            // Metadata for all topics: asking for one topic by handle could auto-create it.
            let err = rd_kafka_metadata(handle, 1, nil, &metadata, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(err, operation: operation, detail: "no answer from the cluster within \(timeout)")
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
            return topics.compactMap { t -> KafkaTopicDescription? in
                guard t.err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
                let name = String(cString: t.topic)
                if let topic, topic != name { return nil }
                let partitions = UnsafeBufferPointer(start: t.partitions, count: Int(t.partition_cnt)).map { p in
                    KafkaTopicDescription.Partition(
                        id: p.id,
                        leader: p.leader,
                        replicas: Array(UnsafeBufferPointer(start: p.replicas, count: Int(p.replica_cnt))),
                        inSyncReplicas: Array(UnsafeBufferPointer(start: p.isrs, count: Int(p.isr_cnt)))
                    )
                }
                return KafkaTopicDescription(name: name, partitions: partitions.sorted { $0.id < $1.id })
            }.sorted { $0.name < $1.name }
        }
    }

    /// Runs an admin call on the handle's thread with a private result queue.
    private func run<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable (OpaquePointer, OpaquePointer) throws(KafkaError) -> T
    ) async throws -> T {
        try await handle.run { handle in
            let queue = rd_kafka_queue_new(handle)!
            defer { rd_kafka_queue_destroy(queue) }
            return try body(handle, queue)
        }
    }

    private static func options(_ handle: OpaquePointer, _ op: rd_kafka_admin_op_t, timeout: Duration, operation: String) throws(KafkaError) -> OpaquePointer {
        let options = rd_kafka_AdminOptions_new(handle, op)!
        var errorText = [CChar](repeating: 0, count: 512)
        let ms = Int32(clamping: timeout.milliseconds)
        if rd_kafka_AdminOptions_set_request_timeout(options, ms, &errorText, errorText.count) != RD_KAFKA_RESP_ERR_NO_ERROR
            || rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errorText, errorText.count) != RD_KAFKA_RESP_ERR_NO_ERROR
        {
            rd_kafka_AdminOptions_destroy(options)
            throw KafkaError.invalidArgument(String(cBuffer: errorText), operation: operation)
        }
        return options
    }

    /// Waits for an admin result event and returns each topic's error (nil if it worked).
    private static func awaitTopicResults(
        _ queue: OpaquePointer,
        timeout: Duration,
        operation: String,
        topics: (OpaquePointer) -> (UnsafeMutablePointer<OpaquePointer?>?, Int)
    ) throws(KafkaError) -> [(String, KafkaError?)] {
        // The request itself is bounded by `timeout`; allow a little more for the reply.
        guard let event = rd_kafka_queue_poll(queue, Int32(clamping: timeout.milliseconds + 2000)) else {
            throw KafkaError(code: .timedOut, message: "no answer from the cluster within \(timeout)", operation: operation)
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .init(err), message: String(cString: rd_kafka_event_error_string(event)), operation: operation)
        }
        let (list, count) = topics(event)
        guard let list else { return [] }
        return (0..<count).map { index in
            let result = list[index]
            let name = String(cString: rd_kafka_topic_result_name(result))
            let code = rd_kafka_topic_result_error(result)
            guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return (name, nil) }
            let text = rd_kafka_topic_result_error_string(result).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
            return (name, KafkaError(code: .init(code), message: text, operation: operation))
        }
    }
}
