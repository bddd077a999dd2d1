import Foundation
import Logging
import PumphouseContracts
import PumphouseLoad
import PumphouseTestSupport
import PumphouseUnit
import Testing

@Suite("A change whose entity cannot be encoded is refused", .localStack, .removingWhatItMakes)
struct UnencodableEntityTests {
    /// bench.Account as a Codable entity whose encoding fails on demand.
    struct FragileAccount: CodableCacheEntity {
        static let contract = BenchAccount.contract
        var id: String
        var owner = "Ada"
        var balance: Int64
        var currency = "EUR"
        var status = "open"
        var updatedAt: Int64 = 1_763_700_000_000
        /// Not a contract field: makes `encode(to:)` throw.
        var unencodable = false
        var key: String { id }

        enum CodingKeys: String, CodingKey {
            case id, owner, balance, currency, status, updatedAt
        }

        init(id: String, balance: Int64, unencodable: Bool = false) {
            self.id = id
            self.balance = balance
            self.unencodable = unencodable
        }

        func encode(to encoder: any Encoder) throws {
            guard !unencodable else {
                throw EncodingError.invalidValue(balance, .init(codingPath: [CodingKeys.balance], debugDescription: "the balance of \(id) cannot be written"))
            }
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(owner, forKey: .owner)
            try container.encode(balance, forKey: .balance)
            try container.encode(currency, forKey: .currency)
            try container.encode(status, forKey: .status)
            try container.encode(updatedAt, forKey: .updatedAt)
        }
    }

    /// Checks that `error` is the refusal of a change to `key` that names the cache and
    /// the encoder's reason.
    func expectRefusal(_ error: CacheError?, key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .invalid(let cache, let refusedKey, let reason)? = error else {
            Issue.record("expected CacheError.invalid, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(cache == FragileAccount.contract, sourceLocation: sourceLocation)
        #expect(refusedKey == key, sourceLocation: sourceLocation)
        #expect(reason.contains("the balance of \(key) cannot be written"), "\(reason)", sourceLocation: sourceLocation)
        #expect(error!.description.contains("bench.Account"), "\(error!)", sourceLocation: sourceLocation)
    }

    /// Without schema validation nothing downstream would notice fields gone missing.
    @Test("put, update and create of an entity whose encoding throws: refused with the cache and the reason, nothing applied or spooled", arguments: [true, false])
    func refused(validating: Bool) async throws {
        // Nothing listens there: the one accepted change stays unacknowledged, so the
        // count shows whether a refused one was spooled. The client's complaints about
        // it are expected, so the unit logs only what is critical.
        let fixture = try await UnitFixture(brokers: "127.0.0.1:1")
        var quiet = Logger(label: "pumphouse.tests.unencodable")
        quiet.logLevel = .critical
        var configuration = UnitConfiguration(pipeline: fixture.pipeline, unitID: "\(fixture.name)-fragile", address: "127.0.0.1:8000", spoolDirectory: "\(fixture.directory)/spool")
        configuration.validatesChanges = validating
        let unit = try ProcessingUnit(configuration: configuration, logger: quiet)
        let accounts = try unit.cache(FragileAccount.self)
        let stored = FragileAccount(id: "acc-1", balance: 100)
        try accounts.put(stored)
        #expect(unit.unacknowledgedChanges == 1)

        expectRefusal(#expect(throws: CacheError.self) { try accounts.put(FragileAccount(id: "acc-1", balance: 7, unencodable: true)) }, key: "acc-1")
        expectRefusal(#expect(throws: CacheError.self) {
            try accounts.update("acc-1") {
                $0.balance = 5
                $0.unencodable = true
            }
        }, key: "acc-1")
        let created = await #expect(throws: CacheError.self) { try await accounts.create(FragileAccount(id: "acc-2", balance: 1, unencodable: true)) }
        expectRefusal(created, key: "acc-2")

        #expect(accounts["acc-1"] == stored)
        #expect(accounts["acc-2"] == nil)
        #expect(accounts.count == 1)
        #expect(unit.unacknowledgedChanges == 1, "a refused change was spooled")
    }
}
