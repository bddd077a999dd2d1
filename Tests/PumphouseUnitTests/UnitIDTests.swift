import Foundation
import Logging
import PumphousePipeline
import PumphouseUnit
import Testing

/// What a unit id may be: it names the unit's spool directory.
@Suite("Unit ids")
struct UnitIDTests {
    @Test("an id of dots alone is refused before anything opens: as a directory it is the spool's own, or its parent holding every unit's", arguments: [".", "..", "..."])
    func dots(id: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pipeline = try PipelineConfiguration.load(path: root.appendingPathComponent("deploy/local/pipeline.yaml").path)
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("unit-id-\(UUID().uuidString)").path
        let configuration = UnitConfiguration(pipeline: pipeline, unitID: id, address: "127.0.0.1:1", spoolDirectory: spool)
        #expect {
            _ = try ProcessingUnit(configuration: configuration, logger: Logger(label: "unit-id-test"))
        } throws: { error in
            (error as? ConfigurationError)?.message.contains("not dots alone") == true
        }
        #expect(!FileManager.default.fileExists(atPath: spool), "nothing was made")
    }
}
