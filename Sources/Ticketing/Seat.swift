import PumphouseContracts
import PumphouseUnit

/// One seat of a concert, keyed `<concert>/<row>-<number>`. A hold is advisory (a
/// buyer's few minutes to pay); whether a seat is sold is the `Sale` cache's to say.
@CacheFields
package struct Seat: CodableCacheEntity, Hashable {
    package static let contract = try! ContractName("ticketing.Seat")
    package var id: String
    package var concert: String
    package var row: String
    package var number: Int
    /// In cents.
    package var price: Int64
    /// The hold id of the buyer holding the seat, if any.
    package var holder: String?
    /// When the hold lapses, in milliseconds since the Unix epoch.
    package var holdUntil: Int64?
    package var key: String { id }

    package static func key(concert: String, seat: String) -> String { "\(concert)/\(seat)" }

    /// The seat's label within its concert, e.g. `B-7`.
    package var label: String { "\(row)-\(number)" }

    /// No one holds the seat any more: released, or sold.
    mutating func releaseHold() {
        holder = nil
        holdUntil = nil
    }

    /// Whether `hold` is the seat's hold, by its bytes (lapsed or not).
    func hasHold(_ hold: String) -> Bool {
        holder?.isSameBytes(as: hold) ?? false
    }

    /// Whether a hold other than `hold` keeps the seat at `now`.
    func isHeld(byOtherThan hold: String?, at now: Int64) -> Bool {
        guard holder != nil, !(hold.map(hasHold) ?? false), let holdUntil else { return false }
        return holdUntil > now
    }
}
