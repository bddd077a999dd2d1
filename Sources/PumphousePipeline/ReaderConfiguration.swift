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
    /// Port of /metrics, /healthz and /readyz; nil serves none.
    public var httpPort: Int?

    public init() {}

    static let keys = ["request_topic", "request_partitions", "group", "chunk_rows", "http_port"]

    static func parse(_ reader: ConfigurationReader?) throws(ConfigurationError) -> ReaderConfiguration {
        var configuration = ReaderConfiguration()
        guard var reader else { return configuration }
        configuration.requestTopic = try reader.topic("request_topic") ?? configuration.requestTopic
        configuration.requestPartitions = try reader.integer("request_partitions", in: 1...1_000) ?? configuration.requestPartitions
        configuration.group = try reader.string("group") ?? configuration.group
        configuration.chunkRows = try reader.integer("chunk_rows", in: 100...1_000_000) ?? configuration.chunkRows
        configuration.httpPort = try reader.integer("http_port", in: 0...65_535)
        try reader.finish()
        return configuration
    }
}
