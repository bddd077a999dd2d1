import Testing

@testable import PumphouseUnit

@Suite("Ownership lease: how long a unit may decide as an owner")
struct OwnershipLeaseTests {
    @Test("no lease before the unit's first heartbeat is back; each one back renews it for three quarters of the member timeout from when it was sent")
    func renewal() {
        let lease = OwnershipLease(memberTimeout: .seconds(4))
        #expect(!lease.isValid(at: 1_000))
        lease.renew(sentAt: 1_000)
        #expect(lease.isValid(at: 3_999))
        #expect(!lease.isValid(at: 4_000), "3 s after the heartbeat was sent, peers may be a member timeout from counting the unit gone, less the margin")
        lease.renew(sentAt: 3_500)
        lease.renew(sentAt: 2_000)  // an older one read late changes nothing
        #expect(lease.isValid(at: 6_000) && lease.broken == nil)
    }

    @Test("heartbeats further apart than the lease (a pause) break it, even once a later one is back, until the unit has claimed its partitions again")
    func gap() throws {
        let lease = OwnershipLease(memberTimeout: .seconds(4))
        lease.renew(sentAt: 1_000)
        lease.renew(sentAt: 4_000)
        let gap = try #require(lease.broken)
        #expect(!lease.isValid(at: 4_001), "renewed across the gap, and still broken")
        // Another gap while the unit claims again for the first.
        lease.renew(sentAt: 8_000)
        lease.repair(through: gap)
        #expect(lease.broken != nil && !lease.isValid(at: 8_001), "the second gap is not made good by the claims for the first")
        lease.repair(through: try #require(lease.broken))
        #expect(lease.isValid(at: 8_001))
    }
}
