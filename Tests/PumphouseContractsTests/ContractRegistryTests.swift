import PumphouseContracts
import Testing

@Suite("Contract registry: decode, validate, upcast")
struct ContractRegistryTests {
    static let name = try! ContractName("shop.Item")
    static let v1 = #"{"type":"object","additionalProperties":false,"required":["sku","qty"],"properties":{"sku":{"type":"string"},"qty":{"type":"integer"},"label":{"type":"string"},"price":{"type":"integer"}}}"#
    static let v2 = #"{"type":"object","additionalProperties":false,"required":["sku","qty","currency"],"properties":{"sku":{"type":"string"},"qty":{"type":"integer"},"title":{"type":"string"},"price":{"type":"string"},"currency":{"type":"string"}}}"#

    static func registry() throws -> ContractRegistry {
        let definition = ContractDefinition(topic: "shop.item", keyField: "sku", compatibility: .none, upcasts: [
            1: UpcastStep(fromVersion: 1, rename: ["label": "title"], defaults: ["currency": .string("EUR")], widen: ["price": .string]),
        ])
        return ContractRegistry(contracts: [ContractSchemas(
            name: name, definition: definition,
            versions: [try SchemaParser().parse(Array(v1.utf8)), try SchemaParser().parse(Array(v2.utf8))]
        )])
    }

    static func contract(version: Int = 1, action: ContractAction = .add, fields: JSONObject, deltas: JSONObject = JSONObject(), name: ContractName = name) -> Contract {
        Contract(name: name, version: version, action: action, key: "sku-1", origin: "unit-1", sequence: 1, eventTime: 0, fields: fields, deltas: deltas)
    }

    @Test("an old version is validated as itself, then upcast: renamed, widened, defaulted")
    func upcast() throws {
        let registry = try Self.registry()
        let encoded = try ContractCodec().encode(Self.contract(fields: ["sku": .string("sku-1"), "qty": .int(2), "label": .string("Mug"), "price": .int(450)]))
        let decoded = try registry.decode(key: Array(encoded.key.utf8), value: encoded.value)
        #expect(decoded.version == 2)
        #expect(decoded.fields == ["sku": .string("sku-1"), "qty": .int(2), "title": .string("Mug"), "price": .string("450"), "currency": .string("EUR")])
    }

    @Test("an update is checked field by field and gets no defaults")
    func updateUpcast() throws {
        let registry = try Self.registry()
        let update = Self.contract(action: .update, fields: ["label": .string("Cup")], deltas: ["qty": .int(-1)])
        let upcast = try registry.upcast(update)
        #expect(upcast.fields == ["title": .string("Cup")])
        #expect(upcast.deltas == ["qty": .int(-1)])
    }

    @Test("typed errors: unknown contract, unknown version, missing field, wrong type, bad delta", arguments: [
        ("unknown-contract", contract(fields: ["sku": .string("a"), "qty": .int(1)], name: try! ContractName("shop.Nope"))),
        ("unknown-version", contract(version: 3, fields: ["sku": .string("a"), "qty": .int(1), "currency": .string("EUR")])),
        ("invalid-payload", contract(fields: ["sku": .string("a")])),
        ("invalid-payload", contract(fields: ["sku": .string("a"), "qty": .string("one")])),
        ("invalid-payload", contract(action: .update, fields: ["nope": .int(1)])),
        ("invalid-payload", contract(action: .update, fields: ["qty": .int(1)], deltas: ["sku": .int(1)])),
        ("invalid-payload", contract(action: .update, fields: ["sku": .string("a")], deltas: ["qty": .double(0.5)])),
        ("invalid-payload", contract(action: .update, fields: ["sku": .string("a")], deltas: ["stock": .int(1)])),
    ])
    func typedErrors(code: String, contract: Contract) throws {
        let registry = try Self.registry()
        let encoded = try ContractCodec().encode(contract)
        let error = try #require(throws: ContractError.self) { try registry.decode(key: Array(encoded.key.utf8), value: encoded.value) }
        #expect(error.code == code, "\(error)")
    }

    @Test("the unknown-version error names the latest known version")
    func unknownVersionMessage() throws {
        let error = try #require(throws: ContractError.self) {
            try Self.registry().validate(Self.contract(version: 7, fields: ["sku": .string("a")]))
        }
        #expect(error == .unknownVersion(contract: "shop.Item", version: 7, latest: 2))
    }

    struct SplitTitle: ContractUpcaster {
        func upcast(_ contract: inout Contract, fromVersion: Int) throws(ContractError) {
            if case .string(let title)? = contract.fields["title"] { contract.fields["title"] = .string(title.uppercased()) }
        }
    }

    @Test("a Swift upcaster runs after the declared step")
    func customHook() throws {
        var registry = try Self.registry()
        registry.register(SplitTitle(), for: Self.name, fromVersion: 1)
        let upcast = try registry.upcast(Self.contract(fields: ["sku": .string("sku-1"), "qty": .int(1), "label": .string("mug")]))
        #expect(upcast.fields["title"] == .string("MUG"))
    }

    @Test("an upcast whose result breaks the latest schema is a typed error")
    func upcastFailure() throws {
        let registry = try Self.registry()
        let error = try #require(throws: ContractError.self) {
            try registry.upcast(Self.contract(action: .update, fields: ["price": .array([])]))
        }
        #expect(error.code == "upcast-failed", "\(error)")
    }
}
