import Foundation
import PumphousePipeline
import PumphouseTestSupport

/// A partitioned `bench.Account` cache as a pipeline file declares it, for tests of pure
/// logic: loading it reaches neither the broker nor the database.
func offlinePartitionedCache(partitions: Int) throws -> CacheConfiguration {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("offline-pipeline-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try """
    kafka: { brokers: "127.0.0.1:9" }
    postgres: { url: "postgresql://nobody@127.0.0.1:9/none" }
    schemas: \(PumphouseProcess.repository)/Schemas
    migrations: \(PumphouseProcess.repository)/Migrations
    caches:
      bench.Account: { topic: accounts, partitions: \(partitions), mode: partitioned, mapping: { table: accounts, columns: { id: id } } }
    """.write(toFile: "\(directory)/pipeline.yaml", atomically: true, encoding: .utf8)
    return try PipelineConfiguration.load(path: "\(directory)/pipeline.yaml", environment: [:]).caches[0]
}
