import PumphouseContracts
import PumphouseUnit
import Testing
@testable import Ticketing

/// The ticketing entities' fields are the schemas' (Schemas/ticketing.*/v1.json): the
/// names and JSON types they had when Foundation's coders wrote them, now that
/// `@CacheFields` does.
@Suite("Ticketing entities keep their contract fields")
struct EntityFieldsTests {
    @Test("a seat, held and free")
    func seat() throws {
        let held = Seat(id: "c1/A-2", concert: "c1", row: "A", number: 2, price: 4500, holder: "unit-1:7f3a", holdUntil: 1_795_000_000_000)
        #expect(try held.fields == [
            "id": .string("c1/A-2"), "concert": .string("c1"), "row": .string("A"), "number": .int(2), "price": .int(4500),
            "holder": .string("unit-1:7f3a"), "holdUntil": .int(1_795_000_000_000),
        ])
        #expect(try Seat(fields: held.fields) == held)
        var free = held
        free.releaseHold()
        // A free seat has no holder member at all, as Codable's encodeIfPresent wrote it.
        #expect(try free.fields.names == ["id", "concert", "row", "number", "price"])
        #expect(try Seat(fields: free.fields) == free)
        var withNulls = try free.fields
        withNulls["holder"] = .null
        withNulls["holdUntil"] = .null
        #expect(try Seat(fields: withNulls) == free)
    }

    @Test("a concert and a sale")
    func concertAndSale() throws {
        let concert = Concert(id: "c1", name: "Night", venue: "Hall", startsAt: 1_795_000_000_000, price: 4500, seats: 100, sold: 3)
        #expect(try concert.fields.names == ["id", "name", "venue", "startsAt", "price", "seats", "sold"])
        #expect(try Concert(fields: concert.fields) == concert)
        let sale = Sale(seat: "c1/A-2", order: "o1", concert: "c1", buyer: "b", price: 4500, unit: "u1", soldAt: 1_795_000_000_000)
        #expect(try sale.fields.names == ["seat", "order", "concert", "buyer", "price", "unit", "soldAt"])
        #expect(try Sale(fields: sale.fields) == sale)
    }

    @Test("a wrong field names the entity, the field and the fix")
    func wrongField() throws {
        var fields = try Concert(id: "c1", name: "Night", venue: "Hall", startsAt: 0, price: 1, seats: 1, sold: 0).fields
        fields["seats"] = .string("many")
        #expect {
            _ = try Concert(fields: fields)
        } throws: { error in
            "\(error)".contains("Concert field \"seats\": holds a JSON string where Int needs a JSON integer")
        }
    }
}
