import ArgumentParser
import PumphousePipeline

/// `--config`, shared by every command that works on a pipeline.
package struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "The pipeline file (e.g. deploy/local/pipeline.yaml).")
    package var config: String

    package init() {}

    /// The loaded file, or a usage error (exit 2) naming the setting and the fix.
    package func load() throws -> PipelineConfiguration {
        try Self.load(config)
    }

    /// The pipeline file at `path`, as `load()` reads `--config`: for a command that
    /// names its pipeline with another flag.
    package static func load(_ path: String) throws -> PipelineConfiguration {
        do {
            return try PipelineConfiguration.load(path: path)
        } catch {
            throw UsageError("\(error)")
        }
    }
}
