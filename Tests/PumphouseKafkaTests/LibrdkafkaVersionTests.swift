@testable import PumphouseKafka
import Testing

@Suite("The librdkafka a process runs with: older than Pumphouse was built against is refused")
struct LibrdkafkaVersionTests {
    @Test("a runtime older than the required version is named with both versions and the fix; equal or newer passes, whatever its pre-release byte", arguments: [
        (runtime: UInt32(0x0109_02ff), required: UInt32(0x0200_02ff), refused: true),
        (runtime: 0x0200_01ff, required: 0x0200_02ff, refused: true),
        (runtime: 0x01ff_ffff, required: 0x0200_0000, refused: true),
        (runtime: 0x0200_02ff, required: 0x0200_02ff, refused: false),
        (runtime: 0x0200_0200, required: 0x0200_02ff, refused: false),
        (runtime: 0x0210_00ff, required: 0x0200_02ff, refused: false),
        (runtime: 0x0300_0000, required: 0x0200_02ff, refused: false),
    ])
    func versions(runtime: UInt32, required: UInt32, refused: Bool) {
        let problem = Librdkafka.problem(runtime: runtime, required: required)
        #expect((problem != nil) == refused)
        if refused, let problem {
            #expect(problem.contains("librdkafka \(runtime >> 24 & 0xff).\(runtime >> 16 & 0xff).\(runtime >> 8 & 0xff)"))
            #expect(problem.contains("older than \(required >> 24 & 0xff).\(required >> 16 & 0xff).\(required >> 8 & 0xff)"))
            #expect(problem.contains("LD_LIBRARY_PATH"))
        }
    }

    @Test("this process's librdkafka passes, and the requirement is the version built against")
    func thisProcess() {
        #expect(Librdkafka.runtimeProblem == nil)
        #expect(Librdkafka.requiredVersion == Librdkafka.compiledVersion)
    }
}
