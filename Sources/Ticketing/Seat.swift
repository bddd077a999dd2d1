import PumphouseContracts
import PumphouseUnit

/// One seat of a concert, keyed `<concert>/<row>-<number>`. A hold is advisory (a
/// buyer's few minutes to pay); whether a seat is sold is the `Sale` cache's to say.
@CacheFields
public struct Seat: CodableCacheEntity, Hashable {
    public static let contract = try! ContractName("ticketing.Seat")
    public var id: String
    public var concert: String
    public var row: String
    public var number: Int
    /// In cents.
    public var price: Int64
    /// The hold id of the buyer holding the seat, if any.
    public var holder: String?
    /// When the hold lapses, in milliseconds since the Unix epoch.
    public var holdUntil: Int64?
    public var key: String { id }

    public static func key(concert: String, seat: String) -> String { "\(concert)/\(seat)" }

    /// The seat's label within its concert, e.g. `B-7`.
    public var label: String { "\(row)-\(number)" }

    /// No one holds the seat any more: released, or sold.
    mutating func releaseHold() {
        holder = nil
        holdUntil = nil
    }

    /// Whether a hold other than `hold` keeps the seat at `now`.
    func isHeld(byOtherThan hold: String?, at now: Int64) -> Bool {
        guard let holder, holder != hold, let holdUntil else { return false }
        return holdUntil > now
    }
}
