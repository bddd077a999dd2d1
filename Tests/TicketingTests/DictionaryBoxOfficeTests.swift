import PumphouseContracts
import PumphouseUnitHTTP
import Testing
import Ticketing

@Suite("The bare ceiling's box office")
struct DictionaryBoxOfficeTests {
    @Test("the units' rules from a dictionary: one sale per seat, a live hold of another buyer stops a purchase, a retry gets the sale back")
    func rules() throws {
        let bare = DictionaryBoxOffice(id: "bare-test")
        let opened = try bare.open(BoxOffice.NewConcert(id: "c", name: "C", venue: "V", startsAt: 0, price: 100, rows: 2, seatsPerRow: 3))
        #expect(opened.seats == 6 && opened.free == 6)
        let hold = try bare.reserve(concert: "c", seat: "A-2", buyer: "alice")
        #expect(throws: BoxOfficeError.conflict("seat A-2 of c is held by another buyer")) {
            try bare.purchase(concert: "c", seat: "A-2", hold: "h-bob", buyer: "bob")
        }
        let sale = try bare.purchase(concert: "c", seat: "A-2", hold: hold.hold, buyer: "alice")
        #expect(try bare.purchase(concert: "c", seat: "A-2", hold: "h-any", buyer: "alice") == sale)
        #expect(throws: BoxOfficeError.conflict("seat A-2 of c is sold")) {
            try bare.purchase(concert: "c", seat: "A-2", hold: "h-bob", buyer: "bob")
        }
        // A hold this process never saw (given by another) does not stop the sale.
        #expect(try bare.purchase(concert: "c", seat: "B-1", hold: "h-elsewhere", buyer: "carol").buyer == "carol")
        let summary = try bare.summary("c")
        #expect(summary.sold == 2 && summary.revenue == 200 && summary.free == 4)
        #expect(try bare.seatMap("c").filter { $0.status == .sold }.map(\.seat) == ["A-2", "B-1"])
        #expect(throws: BoxOfficeError.notFound("seat Z-1 of concert c")) { try bare.reserve(concert: "c", seat: "Z-1", buyer: "dan") }
        #expect(throws: BoxOfficeError.self) { try bare.open(BoxOffice.NewConcert(id: "c", name: "Other", venue: "V", startsAt: 0, price: 100, rows: 2, seatsPerRow: 3)) }
    }

    @Test("a price or start beyond its range is refused naming the field; revenue sums saturate instead of trapping")
    func ranges() throws {
        let bare = DictionaryBoxOffice(id: "bare-ranges")
        func concert(price: Int64 = 100, startsAt: Int64 = 0) -> BoxOffice.NewConcert {
            BoxOffice.NewConcert(id: "c", name: "C", venue: "V", startsAt: startsAt, price: price, rows: 26, seatsPerRow: 500)
        }
        for (spec, field) in [(concert(price: BoxOfficeRules.maximumPrice + 1), "price"), (concert(price: .max), "price"), (concert(startsAt: RequestBounds.latestInstant + 1), "startsAt")] {
            #expect {
                try bare.open(spec)
            } throws: { error in
                guard case .badRequest(let named, _)? = error as? BoxOfficeError else { return false }
                return named == field
            }
        }
        // The dearest seats of the largest concert, every one sold, still add up.
        _ = try bare.open(concert(price: BoxOfficeRules.maximumPrice, startsAt: RequestBounds.latestInstant))
        for row in ["A", "Z"] {
            for number in 1...500 {
                let hold = try bare.reserve(concert: "c", seat: "\(row)-\(number)", buyer: "b")
                _ = try bare.purchase(concert: "c", seat: "\(row)-\(number)", hold: hold.hold, buyer: "b")
            }
        }
        #expect(try bare.summary("c").revenue == 1_000 * BoxOfficeRules.maximumPrice)
        #expect(BoxOfficeRules.adding(.max, to: 1) == .max)
        #expect(BoxOfficeRules.adding(.min, to: -1) == .min)
        #expect(BoxOfficeRules.adding(2, to: 3) == 5)
    }

    /// "\u{212B}se" (ANGSTROM SIGN) and "\u{C5}se" are equal Swift Strings and two
    /// buyers to the units and to PostgreSQL; the ceiling must not answer otherwise.
    @Test("a retried purchase gets the sale back only for the buyer of the same bytes")
    func buyerBytes() throws {
        let bare = DictionaryBoxOffice(id: "bare-bytes")
        _ = try bare.open(BoxOffice.NewConcert(id: "c", name: "C", venue: "V", startsAt: 0, price: 100, rows: 1, seatsPerRow: 2))
        let sale = try bare.purchase(concert: "c", seat: "A-1", hold: "h-x", buyer: "\u{212B}se")
        #expect(try bare.purchase(concert: "c", seat: "A-1", hold: "h-y", buyer: "\u{212B}se") == sale)
        #expect(throws: BoxOfficeError.conflict("seat A-1 of c is sold")) {
            try bare.purchase(concert: "c", seat: "A-1", hold: "h-y", buyer: "\u{C5}se")
        }
    }

    @Test("hold and order ids: the prefix and a version 4 UUID in lower case, none repeated in 20,000")
    func ids() {
        var seen = Set<[UInt8]>()
        for _ in 0..<20_000 {
            let id = BoxOfficeRules.newID("ord-")
            let uuid = Array(id.utf8.dropFirst(4))
            #expect(id.utf8.starts(with: "ord-".utf8) && uuid.count == 36)
            #expect(uuid.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) || $0 == UInt8(ascii: "-") })
            #expect(uuid[14] == UInt8(ascii: "4"), "version nibble of \(id)")
            #expect(Array("89ab".utf8).contains(uuid[19]), "variant of \(id)")
            #expect(seen.insert(uuid).inserted, "\(id) came twice")
        }
    }
}
