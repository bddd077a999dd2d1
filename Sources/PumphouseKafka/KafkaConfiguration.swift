import PumphouseBlocking

/// Where a client connects and any librdkafka property Pumphouse does not model itself.
///
/// Typed fields cover what Pumphouse's own semantics depend on; everything else (SASL,
/// TLS, tuning) passes through `properties` verbatim, so any setting librdkafka documents
/// can be used without a Pumphouse release. A property librdkafka does not know fails at
/// construction with an error naming it.
public struct KafkaConnectionConfiguration: Sendable, Hashable {
    /// `host:port` pairs, e.g. `["127.0.0.1:19092"]`.
    public var bootstrapServers: [String]
    /// Shown in broker logs and metrics; name it after the service instance.
    public var clientID: String
    /// Extra librdkafka properties (e.g. `security.protocol`, `sasl.username`). They are
    /// applied last, so they override the typed fields on purpose.
    public var properties: [String: String]
    /// Properties for producers alone, applied after `properties`. librdkafka warns at
    /// every client that is given a property of the other kind ("is a consumer property
    /// and will be ignored"), so tuning that concerns one kind belongs here or in
    /// `consumerProperties`, as Kafka Connect separates its `producer.` and `consumer.`
    /// settings. Admin clients take neither.
    public var producerProperties: [String: String] = [:]
    /// Properties for consumers alone (`fetch.wait.max.ms`, say), applied after
    /// `properties`; see `producerProperties`.
    public var consumerProperties: [String: String] = [:]
    /// How long a consumer reads a gap in a partition's offsets again before it accepts
    /// that no record fills it; zero accepts every gap at once. A broker that exposes a
    /// later produce request's records before an earlier one's (the local Tansu does,
    /// under concurrent producers) makes a consumer at the log's end step over the
    /// earlier records for good unless they are read again (see `OffsetContinuity`).
    /// Only real gaps pay the wait, once per partition for a compacted backlog; on a
    /// broker that keeps offset order, set it to zero where transactional producers
    /// write, since every transaction marker is a gap.
    public var offsetGapRecheck: Duration = .milliseconds(500)

    public init(bootstrapServers: [String], clientID: String = "pumphouse", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    /// Parses a comma-separated broker list such as `PUMPHOUSE_KAFKA_BROKERS`.
    public init(brokers: String, clientID: String = "pumphouse", properties: [String: String] = [:]) {
        self.init(
            bootstrapServers: brokers.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty },
            clientID: clientID,
            properties: properties
        )
    }

    var baseProperties: [String: String] {
        ["bootstrap.servers": bootstrapServers.joined(separator: ","), "client.id": clientID]
    }
}

/// Producer settings. Defaults give the data pump's guarantees: idempotence and
/// `acks=all`, so a retried send neither duplicates nor reorders within a partition.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    public var connection: KafkaConnectionConfiguration
    /// Idempotent producer (`enable.idempotence`); implies `acks=all` and ordered retries.
    public var idempotent: Bool = true
    /// How long librdkafka keeps retrying one message before reporting it failed
    /// (`message.timeout.ms`). This bounds how long a broker outage can go unreported.
    public var messageTimeout: Duration = .seconds(30)
    /// Batching delay (`linger.ms`): latency traded for throughput.
    public var linger: Duration = .milliseconds(5)
    /// Most messages waiting in librdkafka's queue (`queue.buffering.max.messages`);
    /// past it `send` throws `queueFull` instead of blocking the caller.
    public var maxQueuedMessages: Int = 1_000_000
    /// `compression.type`: none, gzip, snappy, lz4 or zstd.
    public var compression: String = "none"
    /// Produce requests awaiting the broker's answer on one connection
    /// (`max.in.flight.requests.per.connection`; at most 5 with idempotence). Fewer
    /// means that, under load, records wait for the request ahead of them and leave
    /// together in larger batches; librdkafka's own default is 5.
    public var maxInFlightRequests: Int = 5

    public init(connection: KafkaConnectionConfiguration) {
        self.connection = connection
    }

    package var librdkafkaProperties: [String: String] {
        var p = connection.baseProperties
        p["enable.idempotence"] = idempotent ? "true" : "false"
        p["acks"] = "all"
        p["message.timeout.ms"] = String(messageTimeout.milliseconds)
        p["linger.ms"] = String(linger.milliseconds)
        p["queue.buffering.max.messages"] = String(maxQueuedMessages)
        p["compression.type"] = compression
        p["max.in.flight.requests.per.connection"] = String(maxInFlightRequests)
        return p.merging(connection.properties) { _, override in override }.merging(connection.producerProperties) { _, override in override }
    }
}

/// Consumer settings. Offsets are committed only when the application says so: a data
/// writer stores its offsets with its rows, so auto-commit would lie about progress.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    public var connection: KafkaConnectionConfiguration
    /// Consumer group; required for `subscribe` and for committing offsets.
    public var groupID: String?
    /// Where to start when the group has no committed offset: `earliest` or `latest`.
    public var autoOffsetReset: String = "earliest"
    /// Report reaching a partition's end as a `partitionEOF` event; how replay and cold
    /// start know they caught up (ListOffsets is not trusted on every broker).
    public var reportPartitionEOF: Bool = true
    /// `session.timeout.ms`: how long a silent member keeps its partitions. Short
    /// values make joins and failover fast (seconds, not tens of seconds, on the local broker).
    public var sessionTimeout: Duration = .seconds(6)
    /// `max.poll.interval.ms`: the longest gap between polls before the member is
    /// considered stuck and its partitions are reassigned.
    public var maxPollInterval: Duration = .seconds(30)
    /// `partition.assignment.strategy`, e.g. `range,roundrobin` or `cooperative-sticky`.
    public var assignmentStrategy: String = "range,roundrobin"
    /// How long a poll waits for the broker while it moves a partition assigned from
    /// `.beginning` whose offset 0 retention has deleted to where the log now starts; the
    /// poll that finds it gone blocks that long at most, then reports the reset instead.
    public var restartTimeout: Duration = .seconds(10)
    /// `fetch.queue.backoff.ms`: how long librdkafka puts off the next fetch of a
    /// partition whose local queue is full. At its own default of a second, a consumer
    /// that works more slowly than the broker serves (a replay, a writer or a cold start
    /// with a backlog) empties its queue in part of that second and waits out the rest:
    /// a replay of 1,000,000 contracts spent more than half its time so
    /// (docs/benchmarks.md). Set only where the runtime librdkafka knows it (2.1 and
    /// later); older ones always wait the second.
    public var fetchQueueBackoff: Duration = .milliseconds(20)
    /// How far librdkafka reads ahead of the polls: `queued.max.messages.kbytes` (for the
    /// consumer's queue as a whole) and `queued.min.messages` (per partition); it stops
    /// fetching once either is reached. nil keeps librdkafka's 64 MiB and 100,000
    /// messages. A consumer that holds its own batches (a writer) gains nothing from
    /// reading far ahead of them, and pays for it in resident memory.
    public var prefetch: Prefetch?

    /// The least time between two fetches of a partition that found records: nil fetches
    /// again as soon as the last answer is in, librdkafka's way. A consumer that follows
    /// a live topic then sends a fetch for every few records, and each fetch that finds
    /// records costs the broker work (on the local broker, work that grows with the
    /// log: docs/benchmarks.md); paced, each fetch brings what came meanwhile, and the
    /// consumer hears a change up to this much later. A partition with nothing new is
    /// still waited on at the broker (`fetch.wait.max.ms`), not here.
    ///
    /// librdkafka has no such setting; it is made of two that it has: one message
    /// queued (`queued.min.messages` 1) is enough for it to put a partition's next
    /// fetch off, and it puts it off by `fetch.queue.backoff.ms`. Its fetcher decides
    /// on the next fetch as soon as an answer is queued, so nearly every answer that
    /// found records puts the next one off; one whose records were all polled before
    /// that decision does not. It replaces `prefetch.messages` and `fetchQueueBackoff`.
    /// A runtime without `fetch.queue.backoff.ms` (before 2.1) would put fetches off by
    /// a whole second, so there it is not applied.
    public var fetchInterval: Duration?

    /// A bound on librdkafka's read-ahead.
    public struct Prefetch: Sendable, Hashable {
        public var kilobytes: Int
        public var messages: Int

        public init(kilobytes: Int, messages: Int) {
            self.kilobytes = kilobytes
            self.messages = messages
        }
    }

    public init(connection: KafkaConnectionConfiguration, groupID: String? = nil) {
        self.connection = connection
        self.groupID = groupID
    }

    /// Also what the benchmarks' bare librdkafka consumer is configured with.
    package var librdkafkaProperties: [String: String] {
        var p = connection.baseProperties
        // librdkafka refuses even manual assignment without a group id; a private one
        // that is never committed to keeps a group-less consumer usable.
        p["group.id"] = groupID ?? "pumphouse-unjoined-\(UInt64.random(in: 0...UInt64.max))"
        p["enable.auto.commit"] = "false"
        p["enable.auto.offset.store"] = "false"
        p["auto.offset.reset"] = autoOffsetReset
        p["enable.partition.eof"] = reportPartitionEOF ? "true" : "false"
        p["session.timeout.ms"] = String(sessionTimeout.milliseconds)
        p["heartbeat.interval.ms"] = String(max(100, sessionTimeout.milliseconds / 3))
        p["max.poll.interval.ms"] = String(maxPollInterval.milliseconds)
        p["partition.assignment.strategy"] = assignmentStrategy
        if Librdkafka.runtimeHasFetchQueueBackoff {
            p["fetch.queue.backoff.ms"] = String(fetchQueueBackoff.milliseconds)
        }
        if let prefetch {
            p["queued.max.messages.kbytes"] = String(prefetch.kilobytes)
            p["queued.min.messages"] = String(prefetch.messages)
        }
        if let fetchInterval, fetchInterval > .zero, Librdkafka.runtimeHasFetchQueueBackoff {
            p["queued.min.messages"] = "1"
            p["fetch.queue.backoff.ms"] = String(fetchInterval.milliseconds)
        }
        return p.merging(connection.properties) { _, override in override }.merging(connection.consumerProperties) { _, override in override }
    }
}

/// Admin client settings.
public struct KafkaAdminConfiguration: Sendable, Hashable {
    public var connection: KafkaConnectionConfiguration
    /// Upper bound for each admin request and metadata query; an unreachable cluster
    /// surfaces as a `timedOut` error after this long, never as a hang. Kafka's own
    /// default (`request.timeout.ms`): a busy controller can take seconds to create
    /// topics.
    public var requestTimeout: Duration = .seconds(30)

    public init(connection: KafkaConnectionConfiguration) {
        self.connection = connection
    }

    var librdkafkaProperties: [String: String] {
        connection.baseProperties.merging(connection.properties) { _, override in override }
    }
}
