import Logging
import PumphouseContracts
import PumphouseUnit
import ServiceLifecycle

/// A steady stream of changes to a unit's bench.Account cache: increments of random
/// accounts, opening an account the first time it is drawn. It runs next to the unit
/// once the cache is loaded, as application code would, so member, replication and
/// outage checks have traffic to look at.
package struct AccountChanges: Service {
    let unit: ProcessingUnit
    let accounts: ReplicatedCache<BenchAccount>
    let perSecond: Int
    let keys: Int
    let logger: Logger

    package init(unit: ProcessingUnit, accounts: ReplicatedCache<BenchAccount>, perSecond: Int, keys: Int, logger: Logger) {
        self.unit = unit
        self.accounts = accounts
        self.perSecond = perSecond
        self.keys = keys
        self.logger = logger
    }

    package func run() async throws {
        do {
            try await unit.loaded()
        } catch {
            return  // the unit stopped before loading; its own error says why
        }
        let seed = unit.id.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        // Changes go out in ticks of 10 ms, so the rate holds without a timer per change.
        let tick = Duration.milliseconds(10)
        let perTick = Double(perSecond) / 100
        await cancelWhenGracefulShutdown {
            var random = SeededRandomGenerator(seed: seed)
            var owed = 0.0
            var deadline = ContinuousClock.now
            var refused = 0
            while !Task.isCancelled {
                owed += perTick
                while owed >= 1 {
                    owed -= 1
                    // Keys of its own: concurrent adds of one key by two units would collide.
                    let key = "\(unit.id)-\(Int.random(in: 0..<keys, using: &random))"
                    do {
                        if accounts[key] == nil {
                            try accounts.put(BenchAccount(id: key, balance: 0))
                        } else {
                            try accounts.increment(key, "balance", by: 1)
                        }
                    } catch {
                        refused += 1
                        // Without the key or values the full description quotes.
                        if refused.isPowerOfTwo { logger.warning("\(refused) change(s) refused so far; latest: \((error as? CacheError)?.logSafeDescription ?? "\(type(of: error))")") }
                    }
                }
                deadline += tick
                try? await Task.sleep(until: deadline, clock: .continuous)
            }
        }
    }
}

extension Int {
    fileprivate var isPowerOfTwo: Bool { self > 0 && self & (self - 1) == 0 }
}
