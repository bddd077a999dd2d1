/// The data readers: where units send read requests and how readers answer them.
/// Every reader instance of a pipeline shares one consumer group, so each request is
/// served once; the `reader` section of the pipeline file is optional.
public struct ReaderConfiguration: Sendable, Hashable {
    public var requestTopic = "pumphouse.reads"
    /// Partitions of the request topic: the most readers that can serve at once.
    public var requestPartitions = 4
    public var group = "pumphouse-reader"
    /// Rows fetched from the database per round trip while streaming a load: the bound
    /// on the reader's memory.
    public var chunkRows = 5_000
    /// How a reader's answers are compressed on the reverse-pump topic. A load moves a
    /// whole table through the broker as JSON, whose member names and envelope repeat in
    /// every row: compressed, the broker stores and serves a fraction of the bytes, which
    /// on the project's machine halved the broker's CPU in a cold start and sped it up
    /// by 9-20% (docs/benchmarks.md). lz4 by default: every librdkafka build has it and
    /// it costs the reader and the unit little; zstd compresses further, but a client
    /// built without it cannot read what it compressed.
    public var compression: Compression = .lz4
    /// Port of /metrics, /healthz and /readyz; nil serves none.
    public var httpPort: Int?

    /// Kafka's compression codecs (`compression.type`).
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        case none, gzip, snappy, lz4, zstd
    }

    public init() {}

    static let keys = ["request_topic", "request_partitions", "group", "chunk_rows", "compression", "http_port"]

    static func parse(_ reader: ConfigurationReader?) throws(ConfigurationError) -> ReaderConfiguration {
        var configuration = ReaderConfiguration()
        guard var reader else { return configuration }
        configuration.requestTopic = try reader.topic("request_topic") ?? configuration.requestTopic
        configuration.requestPartitions = try reader.integer("request_partitions", in: 1...1_000) ?? configuration.requestPartitions
        configuration.group = try reader.string("group") ?? configuration.group
        configuration.chunkRows = try reader.integer("chunk_rows", in: 100...1_000_000) ?? configuration.chunkRows
        configuration.compression = try reader.choice("compression", of: Compression.self) ?? configuration.compression
        configuration.httpPort = try reader.integer("http_port", in: 0...65_535)
        try reader.finish()
        return configuration
    }
}
