import ArgumentParser
import Foundation
import Logging
import PumphouseCommandLine
import PumphouseKafka
import PumphouseLoad
import PumphousePipeline
import PumphouseUnit
import Synchronization

/// The reference for replication lag: the broker's own produce-to-consume latency with
/// the same fan-out as the units. Each member has a producer with the data pump's
/// settings and a consumer of every partition, as a unit's replica has; each sends a
/// third of the rate, and every message a member reads from another member is a sample.
/// No contracts, no caches: what is left is librdkafka, the broker and the machine.
struct BrokerLatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker-latency",
        abstract: "The broker's produce-to-consume latency with the units' fan-out (the reference for replication lag)."
    )

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var window: RateWindowOptions

    @Option(help: "How many members produce and consume.")
    var members: Int = 3

    @Option(help: "Bytes per message, about a bench.Account contract's.")
    var messageBytes: Int = 300

    func validate() throws {
        guard window.rate >= members else { throw ValidationError("--rate must be at least one message per second per member") }
        guard (2...16).contains(members) else { throw ValidationError("--members must be from 2 to 16") }
        guard messageBytes >= 16 else { throw ValidationError("--message-bytes must be at least 16") }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        guard let cache = configuration.cache(BenchAccount.contract) else {
            throw UsageError("the pipeline file declares no cache bench.Account; its topic's shape is the one measured")
        }
        let logger = Logger(label: "pumphouse.bench.broker")
        let topic = "\(cache.topic).broker-latency"
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(connection: configuration.kafka), logger: logger)
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: cache.partitions, replicationFactor: cache.replicationFactor)])
        let partitions = (0..<cache.partitions).map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic: topic, partition: Int32($0)), offset: .end) }

        let latency = LatencyHistogram(recording: false)
        let producerConfiguration = DataPump.producerConfiguration(configuration.kafka)
        // Failed deliveries are counted, not logged one by one: any makes the figure wrong.
        let undelivered = Mutex(0)
        let producers = try (0..<members).map { _ in
            try KafkaProducer(configuration: producerConfiguration, logger: logger) { report in
                if case .failed = report { undelivered.withLock { $0 += 1 } }
            }
        }
        var consumerConfiguration = KafkaConsumerConfiguration(connection: configuration.kafka)
        consumerConfiguration.reportPartitionEOF = false
        let consumers = try (0..<members).map { _ in try KafkaConsumer(configuration: consumerConfiguration, logger: logger) }
        for consumer in consumers { try await consumer.assign(partitions) }

        let perMember = Double(window.rate) / Double(members)
        let padding = [UInt8](repeating: 0x2e, count: messageBytes - 9)
        let refused: Int
        do {
            refused = try await withThrowingTaskGroup(of: Int.self) { group in
                for (member, consumer) in consumers.enumerated() {
                    group.addTask {
                        do {
                            while !Task.isCancelled {
                                for case .messages(let messages) in try await consumer.poll(maxMessages: 10_000, timeout: .milliseconds(20)) {
                                    let now = CommitObserver.nowMicroseconds()
                                    for message in messages {
                                        guard let value = message.value, value.count >= 9, Int(value[0]) != member else { continue }
                                        let sent = value[1..<9].reduce(Int64(0)) { $0 << 8 | Int64($1) }
                                        latency.record(microseconds: now - sent)
                                    }
                                }
                            }
                        } catch is CancellationError {
                            // The window is over.
                        }
                        return 0
                    }
                }
                for (member, producer) in producers.enumerated() {
                    group.addTask {
                        // Sends in ticks of 10 ms, as the units' changes go out; counts
                        // the sends librdkafka refused.
                        var owed = 0.0
                        var sent = 0
                        var refused = 0
                        var deadline = ContinuousClock.now
                        while !Task.isCancelled {
                            owed += perMember / 100
                            while owed >= 1 {
                                owed -= 1
                                sent += 1
                                let time = CommitObserver.nowMicroseconds()
                                let stamp = (0..<8).map { UInt8(truncatingIfNeeded: time >> (8 * (7 - $0))) }
                                do throws(KafkaError) {
                                    try producer.send(KafkaProducerMessage(topic: topic, key: Array("m\(member)-\(sent % 10_000)".utf8), value: [UInt8(member)] + stamp + padding))
                                } catch {
                                    refused += 1
                                }
                            }
                            deadline += .milliseconds(10)
                            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { break }
                        }
                        return refused
                    }
                }
                _ = try await window.measure { on, _ in latency.isRecording.store(on, ordering: .relaxed) }
                group.cancelAll()
                // Awaited, so a consumer's error ends the benchmark instead of vanishing.
                return try await group.reduce(0, +)
            }
        } catch {
            for producer in producers { await producer.abandon() }
            for consumer in consumers { try? await consumer.close() }
            throw error
        }
        for producer in producers { try? await producer.shutdown(timeout: .seconds(30)) }
        for consumer in consumers { try? await consumer.close() }
        let lost = refused + undelivered.withLock { $0 }
        guard lost == 0 else { throw BenchmarkFailure("\(lost) of the reference's messages were refused or not delivered; its figures would leave them out") }
        guard latency.count > 0 else { throw BenchmarkFailure("no message reached another member in the window") }
        Figures.say("reference: the broker's own produce-to-consume latency at \(window.rate) messages/s, \(members) members each reading every partition: \(latency.count) deliveries to other members; p50 \(latency.milliseconds(at: 50)) ms, p99 \(latency.milliseconds(at: 99)) ms, p99.9 \(latency.milliseconds(at: 99.9)) ms")
        Figures.report("broker_latency_p50_ms_\(window.label)", latency.milliseconds(at: 50))
        Figures.report("broker_latency_p99_ms_\(window.label)", latency.milliseconds(at: 99))
        Figures.report("broker_latency_p999_ms_\(window.label)", latency.milliseconds(at: 99.9))
    }
}
