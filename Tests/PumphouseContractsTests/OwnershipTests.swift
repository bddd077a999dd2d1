import Testing
@testable import PumphouseContracts

@Suite("Partition ownership")
struct OwnershipTests {
    static let cache = try! ContractName("ticketing.Sale")
    static func claim(_ term: Int64, _ owner: String) -> OwnershipClaim {
        OwnershipClaim(cache: cache, partition: 2, term: term, owner: owner, claimedAt: 1_763_700_000_000)
    }

    @Test("a claim travels as its body and a header, and only a claim's body reads as one")
    func wire() throws {
        let claim = Self.claim(7, "unit-\u{E9}")
        let decoded = try #require(try OwnershipClaim(body: claim.encoded()))
        #expect(decoded == claim)
        #expect(OwnershipClaim.isClaim(headers: claim.headers.map { ($0.name, Optional($0.value)) }))
        #expect(!OwnershipClaim.isClaim(headers: [("ph-contract", Array("ticketing.Sale".utf8))]))
        // A header of that name without a value, or with a byte more, does not say claim.
        #expect(!OwnershipClaim.isClaim(headers: [(OwnershipClaim.recordHeader, nil)]))
        #expect(!OwnershipClaim.isClaim(headers: [(OwnershipClaim.recordHeader, Array(OwnershipClaim.recordName.utf8) + [0xCC, 0x81])]))
        #expect(String(decoding: claim.key, as: UTF8.self) == "ph-claim/2/7")
        // Its owner is an origin, which writers keep in their ledger: one PostgreSQL
        // cannot store (a NUL) or index (kilobytes) is refused, as a contract's origin is.
        for owner in ["a\u{0}", String(repeating: "o", count: 256), ""] {
            #expect(throws: ContractError.self) { try OwnershipClaim(body: Self.claim(7, owner).encoded()) }
        }
        // A term is at most 2^53, so no successor's term (one more) overflows.
        #expect(try OwnershipClaim(body: Self.claim(1 << 53, "u").encoded())?.term == 1 << 53)
        for term: Int64 in [(1 << 53) + 1, .max, 0, -1] {
            #expect(throws: ContractError.self, "term \(term)") { try OwnershipClaim(body: Self.claim(term, "u").encoded()) }
        }
        // A contract's body is not a claim; nor is anything that is not JSON.
        let contract = Contract(name: Self.cache, version: 1, action: .create, key: "s-1", origin: "u", sequence: 1, eventTime: 1, fields: ["seat": .string("A1")])
        #expect(try OwnershipClaim(body: try ContractCodec().encode(contract).value) == nil)
        #expect(try OwnershipClaim(body: Array("not json".utf8)) == nil)
    }

    @Test("a claim says how its unit placed keys, and a claim written before claims said it reads as saying nothing")
    func placement() throws {
        var claim = Self.claim(3, "u")
        claim.partitioner = "murmur2 over the key after its last \"@\""
        #expect(try #require(try OwnershipClaim(body: claim.encoded())).partitioner == claim.partitioner)
        let older = #"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":3,"owner":"u","claimedAt":1}"#
        let decoded = try #require(try OwnershipClaim(body: Array(older.utf8)))
        #expect(decoded.partitioner == nil)
    }

    @Test("a body that says it is a claim but is malformed is an error naming the member", arguments: [
        (#"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":0,"owner":"u","claimedAt":1}"#, "ownershipTerm"),
        (#"{"record":"ownershipClaim","cache":"Sale","partition":2,"ownershipTerm":1,"owner":"u","claimedAt":1}"#, "cache"),
        (#"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":-1,"ownershipTerm":1,"owner":"u","claimedAt":1}"#, "partition"),
        (#"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":1,"owner":"","claimedAt":1}"#, "owner"),
        (#"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":1,"owner":"u"}"#, "claimedAt"),
        (#"{"record":"ownershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":1,"owner":"u","claimedAt":1,"partitioner":5}"#, "partitioner"),
    ])
    func malformed(body: String, member: String) {
        #expect {
            _ = try OwnershipClaim(body: Array(body.utf8))
        } throws: { error in
            guard case ContractError.invalidEnvelope(let named, _) = error else { return false }
            return named == member
        }
    }

    @Test("before any claim every change counts but one naming a term")
    func unclaimed() {
        let ownership = PartitionOwnership()
        #expect(ownership.fence(origin: "a", term: nil) == nil)
        #expect(ownership.fence(origin: "a", term: 1) == .term(change: 1, current: 0))
    }

    @Test("only the latest claim's owner, under its term, changes the partition; stale claims change nothing")
    func fencing() {
        var ownership = PartitionOwnership()
        #expect(ownership.apply(Self.claim(1, "a"), readFrom: Self.cache, partition: 2) == .adopted(previous: PartitionOwnership()))
        #expect(ownership.fence(origin: "a", term: 1) == nil)
        #expect(ownership.fence(origin: "b", term: 1) == .origin(claimedBy: "a"))
        #expect(ownership.fence(origin: "a", term: nil) == .unowned(current: 1))
        // b takes over; a's changes under term 1 that reach the log later are fenced.
        #expect(ownership.apply(Self.claim(2, "b"), readFrom: Self.cache, partition: 2) == .adopted(previous: PartitionOwnership(term: 1, owner: "a")))
        #expect(ownership.fence(origin: "a", term: 1) == .term(change: 1, current: 2))
        #expect(ownership.fence(origin: "b", term: 2) == nil)
        // a claims the same term in a race it lost, or an old claim is replayed: stale.
        #expect(ownership.apply(Self.claim(2, "a"), readFrom: Self.cache, partition: 2) == .stale(current: 2))
        #expect(ownership.apply(Self.claim(1, "a"), readFrom: Self.cache, partition: 2) == .stale(current: 2))
        #expect(ownership.owner == "b")
        // a restarted a, owning again under term 3, still may not resend what it decided under 1.
        #expect(ownership.apply(Self.claim(3, "a"), readFrom: Self.cache, partition: 2) == .adopted(previous: PartitionOwnership(term: 2, owner: "b")))
        #expect(ownership.fence(origin: "a", term: 1) == .term(change: 1, current: 3))
        #expect(ownership.fence(origin: "a", term: 3) == nil)
    }

    @Test("a claim counts only in the partition of the cache it names")
    func misplaced() throws {
        var ownership = PartitionOwnership()
        #expect(ownership.apply(Self.claim(1, "a"), readFrom: Self.cache, partition: 3) == .misplaced)
        #expect(ownership.apply(Self.claim(1, "a"), readFrom: try ContractName("ticketing.Seat"), partition: 2) == .misplaced)
        #expect(ownership == PartitionOwnership())
        #expect(PartitionOwnership.ClaimOutcome.misplaced.rejection == "misplaced-claim")
        #expect(PartitionOwnership.ClaimOutcome.stale(current: 1).rejection == "stale-claim")
    }

    @Test("a message is a change or a claim: by its header, or by its body when a hop stripped the headers")
    func records() throws {
        let registry = try SchemaRepository(directory: SchemaFuzzTests.schemasDirectory).load()
        let claim = Self.claim(3, "a")
        #expect(try registry.decodeRecord(key: claim.key, value: claim.encoded(), headers: claim.headers.map { ($0.name, Optional($0.value)) }) == .claim(claim))
        #expect(try registry.decodeRecord(key: claim.key, value: claim.encoded()) == .claim(claim))
        // The header says claim, the body does not: an error, never a change.
        #expect(throws: ContractError.self) {
            try registry.decodeRecord(key: claim.key, value: Array("{}".utf8), headers: [(OwnershipClaim.recordHeader, Array(OwnershipClaim.recordName.utf8))])
        }
        // Anything else decodes (or fails) as a change does.
        #expect(throws: ContractError.self) { try registry.decodeRecord(key: claim.key, value: Array("{}".utf8)) }
    }

    @Test("a body that could be a claim is told from one that cannot without parsing, and never wrongly")
    func mayBeClaim() throws {
        let claim = Self.claim(3, "a")
        #expect(Self.couldBeClaim(claim.encoded()))
        // The record name spelt with escapes still parses as a claim, so it may be one.
        let escaped = #"{"record":"\u006fwnershipClaim","cache":"ticketing.Sale","partition":2,"ownershipTerm":3,"owner":"a","claimedAt":1}"#
        #expect(try OwnershipClaim(body: Array(escaped.utf8)) != nil)
        #expect(Self.couldBeClaim(Array(escaped.utf8)))
        let contract = Contract(name: Self.cache, version: 1, action: .create, key: "s-1", origin: "u", sequence: 1, eventTime: 1, fields: ["seat": .string("A1")])
        #expect(!Self.couldBeClaim(try ContractCodec().encode(contract).value))
        #expect(!Self.couldBeClaim([]))
        // Over 4 KiB a body is never parsed as a claim, whatever it holds.
        let padded = Array(claim.encoded().dropLast()) + Array(#","pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 4096) + Array(#""}"#.utf8)
        #expect(try OwnershipClaim(body: padded) == nil)
        #expect(!Self.couldBeClaim(padded))
    }

    private static func couldBeClaim(_ body: [UInt8]) -> Bool {
        body.withUnsafeBytes { OwnershipClaim.mayBeClaim(body: $0) }
    }

    @Test("owners are told apart by bytes")
    func bytes() {
        var ownership = PartitionOwnership()
        _ = ownership.apply(Self.claim(1, "caf\u{E9}"), readFrom: Self.cache, partition: 2)
        #expect(ownership.fence(origin: "cafe\u{301}", term: 1) == .origin(claimedBy: "caf\u{E9}"))
        #expect(ownership.fence(origin: "caf\u{E9}", term: 1) == nil)
        #expect(ownership != PartitionOwnership(term: 1, owner: "cafe\u{301}"))
        #expect(Self.claim(1, "caf\u{E9}") != Self.claim(1, "cafe\u{301}"))
    }

    @Test("a contract carries its ownership term in the body, and a term below 1 is refused")
    func contractTerm() throws {
        var contract = Contract(name: Self.cache, version: 1, action: .create, key: "s-1", origin: "u", sequence: 1, eventTime: 1, ownershipTerm: 4, fields: ["seat": .string("A1")])
        let encoded = try ContractCodec().encode(contract)
        #expect(String(decoding: encoded.value, as: UTF8.self).contains(#""ownershipTerm":4"#))
        #expect(try ContractCodec().decode(key: Array(encoded.key.utf8), value: encoded.value).ownershipTerm == 4)
        contract.ownershipTerm = 0
        #expect(throws: ContractError.self) { try ContractCodec().encode(contract) }
    }
}
