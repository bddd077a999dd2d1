import PumphouseCommandLine
import Testing

@Suite("The services' health-and-metrics address")
struct ServiceHostTests {
    @Test("loopback unless PUMPHOUSE_HTTP_HOST names another address; anything that cannot be one is refused naming the variable")
    func host() throws {
        #expect(try serviceHost(nil) == "127.0.0.1")
        #expect(try serviceHost("0.0.0.0") == "0.0.0.0")
        #expect(try serviceHost("::") == "::")
        #expect(try serviceHost("metrics.internal") == "metrics.internal")
        for bad in ["0.0.0.0 ", "host;rm", "höst", String(repeating: "a", count: 254)] {
            let error = try #require(throws: UsageError.self) { try serviceHost(bad) }
            #expect(error.description.contains("PUMPHOUSE_HTTP_HOST"), "\(error)")
        }
    }
}
