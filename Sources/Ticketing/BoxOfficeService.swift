import Foundation
import PumphouseContracts
import PumphouseObservability
import PumphouseUnitHTTP

/// The box office's routes, whatever keeps the seats: the processing units
/// (`BoxOffice`), PostgreSQL directly (`DatabaseBoxOffice`, the benchmark's
/// database-first twin) or one process's memory (`DictionaryBoxOffice`, the bare
/// ceiling). One router serves all three, so a comparison measures the storage behind
/// the routes and nothing else.
package protocol BoxOfficeService: Sendable {
    var readiness: Readiness { get }
    func open(_ spec: BoxOffice.NewConcert) async throws(BoxOfficeError) -> BoxOffice.ConcertSummary
    func list() async throws(BoxOfficeError) -> [BoxOffice.ConcertSummary]
    func summary(_ id: String) async throws(BoxOfficeError) -> BoxOffice.ConcertSummary
    func seatMap(_ concert: String) async throws(BoxOfficeError) -> [BoxOffice.SeatView]
    func reserve(concert: String, seat label: String, buyer: String) async throws(BoxOfficeError) -> BoxOffice.Hold
    func purchase(concert: String, seat label: String, hold: String, buyer: String) async throws(BoxOfficeError) -> Sale
    func release(concert: String, seat label: String, hold: String) async throws(BoxOfficeError)
}

extension BoxOffice: BoxOfficeService {
    package var readiness: Readiness {
        unit.isLoaded ? Readiness(isReady: true, reason: "loaded") : Readiness(isReady: false, reason: "loading the caches")
    }
}

/// The checks every box office makes on a request before it touches its storage, so
/// the three answer bad input alike.
package enum BoxOfficeRules {
    package static func check(_ spec: BoxOffice.NewConcert) throws(BoxOfficeError) {
        guard spec.id.unicodeScalars.count <= 40, !spec.id.isEmpty, spec.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .badRequest(field: "id", problem: "use 1 to 40 ASCII letters, digits or '-', not \"\(spec.id)\"")
        }
        guard !spec.name.isEmpty, spec.name.unicodeScalars.count <= 200 else { throw .badRequest(field: "name", problem: "give 1 to 200 characters") }
        guard !spec.venue.isEmpty, spec.venue.unicodeScalars.count <= 200 else { throw .badRequest(field: "venue", problem: "give 1 to 200 characters") }
        guard (1...26).contains(spec.rows) else { throw .badRequest(field: "rows", problem: "must be between 1 and 26 (rows are lettered A to Z), not \(spec.rows)") }
        guard (1...500).contains(spec.seatsPerRow) else { throw .badRequest(field: "seatsPerRow", problem: "must be between 1 and 500, not \(spec.seatsPerRow)") }
        guard (1...maximumPrice).contains(spec.price) else {
            throw .badRequest(field: "price", problem: "must be a positive number of cents up to \(maximumPrice), not \(spec.price)")
        }
        guard (0...RequestBounds.latestInstant).contains(spec.startsAt) else {
            throw .badRequest(field: "startsAt", problem: "must be milliseconds since the Unix epoch, up to \(RequestBounds.latestInstant) (the end of year 9999), not \(spec.startsAt)")
        }
    }

    /// The most cents a seat may cost: a concert's revenue (at most 26 × 500 seats) then
    /// stays far inside Int64 and PostgreSQL's bigint.
    package static let maximumPrice: Int64 = 1_000_000_000_000

    /// `total` plus `price`, saturating: the API's prices keep a concert's revenue far
    /// from Int64's limit, but a sale another producer put in the log need not, and must
    /// not crash every unit that counts it.
    package static func adding(_ price: Int64, to total: Int64) -> Int64 {
        let (sum, overflow) = total.addingReportingOverflow(price)
        return overflow ? (price < 0 ? .min : .max) : sum
    }

    package static func checkBuyer(_ buyer: String) throws(BoxOfficeError) {
        guard !buyer.isEmpty, buyer.unicodeScalars.count <= 200 else { throw .badRequest(field: "buyer", problem: "give 1 to 200 characters") }
    }

    package static func checkHold(_ hold: String) throws(BoxOfficeError) {
        guard !hold.isEmpty else { throw .badRequest(field: "hold", problem: "give the hold id that reserve returned") }
    }

    /// A new hold's or order's id: `prefix` and a random (version 4) UUID in lower case.
    /// The random bits come from the system's generator (`getrandom`): Foundation's
    /// `UUID()` on Linux opens, reads and closes /dev/urandom for each one, which `perf`
    /// of the on-sale found on every request of all three box offices.
    package static func newID(_ prefix: String) -> String {
        var random = SystemRandomNumberGenerator()
        let high = random.next() as UInt64, low = random.next() as UInt64
        var bytes = (high.bigEndian, low.bigEndian)
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = raw[6] & 0x0F | 0x40  // version 4: random
            raw[8] = raw[8] & 0x3F | 0x80  // variant 1 (RFC 9562)
            let uuid = raw.load(as: uuid_t.self)
            return prefix + UUID(uuid: uuid).uuidString.lowercased()
        }
    }

    /// Row letters in order, `A` for the first.
    package static func rowLabel(_ index: Int) -> String { String(UnicodeScalar(UInt8(ascii: "A") + UInt8(index))) }
}
