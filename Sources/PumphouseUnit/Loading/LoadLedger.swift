import PumphouseContracts
import PumphouseKafka

/// Who loads a cache from the database in a cold start, folded from the cache's
/// reverse-pump topic: the log's order decides, so units need no database and no lock
/// server to agree.
///
/// The first claim read while nobody holds the load makes its unit the holder; later
/// claims lose. The holder renews its claim while it waits for the data readers, and
/// the answer's own records count as renewals too. A holder not heard from for a lease
/// (by the records' timestamps) has lapsed: the next claim after that wins. When the
/// holder's answer ends, the load is finished, and the units that waited read the same
/// answer: the database is read once however many units start.
///
/// Every unit folds the same records in the same order, so all agree on the holder
/// except where their clocks disagree about a lapse; then two units may both load,
/// which costs the database a second read and nothing else (each load is a whole,
/// consistent answer followed by the topic).
struct LoadLedger: Sendable {
    struct Holder: Sendable, Equatable {
        var request: String
        var unit: String
        /// The timestamp of the latest record that showed the holder alive.
        var heardAt: Int64
    }

    /// A load whose answer ended: where it begins on the reverse-pump topic.
    struct Finished: Sendable, Equatable {
        var snapshot: CacheSnapshot
        var unit: String
        /// The timestamp of the answer's end.
        var at: Int64
    }

    /// Milliseconds without a record from the holder after which its claim lapses.
    let lease: Int64
    private(set) var holder: Holder?
    /// The latest finished load since the current holder (if any) claimed: a load in
    /// progress supersedes the ones before it.
    private(set) var finished: Finished?
    /// Claimed requests, by their bytes, with the offset of the first record of their
    /// answer once read.
    private var claimed: [ExactKey: (unit: String, first: Int64?)] = [:]

    init(lease: Duration) {
        self.lease = lease.milliseconds
    }

    /// Folds one record of the reverse-pump topic, stamped `at` (milliseconds since the
    /// epoch); returns the claim it held, if it was one.
    @discardableResult
    mutating func read(_ message: KafkaMessage, at: Int64) -> LoadClaim? {
        if let claim = LoadClaim(message) {
            read(claim, at: at)
            return claim
        } else if let reply = ReverseReply(key: message.key, value: message.value, headers: message.headers.map { ($0.name, $0.value) }) {
            read(reply, offset: message.offset, at: at)
        }
        return nil
    }

    mutating func read(_ claim: LoadClaim, at: Int64) {
        let request = ExactKey(claim.request)
        if let holder, ExactKey(holder.request) == request {
            self.holder?.heardAt = max(holder.heardAt, at)
            return
        }
        guard holder.map({ !isLive($0, at: at) }) ?? true else { return }
        // A renewal read first (the claim lay before the window read) takes the load
        // as the claim would.
        holder = Holder(request: claim.request, unit: claim.unit, heardAt: at)
        claimed[request] = (claim.unit, nil)
        finished = nil
    }

    mutating func read(_ reply: ReverseReply, offset: Int64, at: Int64) {
        let request = ExactKey(reply.request)
        guard var answer = claimed[request] else { return }
        if answer.first == nil {
            answer.first = offset
            claimed[request] = answer
        }
        let held = holder.map { ExactKey($0.request) == request } ?? false
        if held, let heard = holder?.heardAt { holder?.heardAt = max(heard, at) }
        switch reply {
        case .rows:
            break
        case .end:
            finished = Finished(snapshot: CacheSnapshot(request: reply.request, offset: answer.first ?? offset), unit: answer.unit, at: at)
            claimed[request] = nil
            if held { holder = nil }
        case .error:
            // The holder fails with the reader's reason; whoever claims next asks again
            // and learns it too, unless the cause is gone.
            claimed[request] = nil
            if held { holder = nil }
        }
    }

    /// Whether `holder` has been heard from within a lease of `now`.
    func isLive(_ holder: Holder, at now: Int64) -> Bool {
        now - holder.heardAt <= lease
    }

    /// The holder, if it is still live at `now`.
    func liveHolder(at now: Int64) -> Holder? {
        holder.flatMap { isLive($0, at: now) ? $0 : nil }
    }
}
