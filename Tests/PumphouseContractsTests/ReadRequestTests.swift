import Testing
@testable import PumphouseContracts

@Suite("Read requests on the reverse pump's request topic")
struct ReadRequestTests {
    static func body(deadline: String) -> [UInt8] {
        Array(#"{"id":"r-1","cache":"bench.Account","replyTo":"bench.account.reverse","deadline":\#(deadline)}"#.utf8)
    }

    @Test("a deadline a reader could not subtract from its clock is refused as the request's error, naming the range")
    func deadlineBounds() throws {
        for deadline in ["-9223372036854775808", "-1", "253402300800000", "9223372036854775807"] {
            #expect(throws: ReadRequestError.self, "deadline \(deadline)") { try ReadRequest(value: Self.body(deadline: deadline)) }
            do {
                _ = try ReadRequest(value: Self.body(deadline: deadline))
            } catch {
                #expect(error.description.contains("between 0 and 253402300799999"))
            }
        }
        #expect(try ReadRequest(value: Self.body(deadline: "0")).deadline == 0)
        #expect(try ReadRequest(value: Self.body(deadline: "253402300799999")).deadline == 253_402_300_799_999)
        #expect(try ReadRequest(value: Self.body(deadline: "1765152000000")).deadline == 1_765_152_000_000)
    }
}
