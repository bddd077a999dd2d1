/// The contracts a process knows: decodes messages into contracts checked against their
/// schema version and brought to the latest version.
///
/// Readers accept every known version and upcast it; a version newer than any known is
/// a typed error (`unknownVersion`), never a guess, because guessing would write fields
/// into the wrong columns.
public struct ContractRegistry: Sendable {
    public private(set) var contracts: [ContractName: ContractSchemas]
    private var upcasters: [String: any ContractUpcaster] = [:]
    public var codec: ContractCodec

    public init(contracts: [ContractSchemas], codec: ContractCodec = ContractCodec()) {
        self.contracts = Dictionary(contracts.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.codec = codec
    }

    /// Registers a Swift transform for the step from `fromVersion` to `fromVersion + 1`.
    public mutating func register(_ upcaster: some ContractUpcaster, for contract: ContractName, fromVersion: Int) {
        upcasters["\(contract.rawValue)#\(fromVersion)"] = upcaster
    }

    public func schemas(for name: ContractName) throws(ContractError) -> ContractSchemas {
        guard let schemas = contracts[name] else { throw ContractError.unknownContract(name.rawValue) }
        return schemas
    }

    /// Decodes a Kafka message, validates the payload against its own version, and
    /// returns the contract upcast to the latest version.
    public func decode(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8]?)] = []) throws(ContractError) -> Contract {
        try withBytes(of: value) { (value) throws(ContractError) in
            try withBytes(of: key) { (key) throws(ContractError) in try decode(key: key, value: value, headers: headers) }
        }
    }

    /// Decodes where the message lies (in a batch of rows, say), as `decode(key:value:headers:)`.
    public func decode(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [(name: String, value: [UInt8]?)] = []
    ) throws(ContractError) -> Contract {
        try withHeaderBytes(headers) { (headers) throws(ContractError) in try decode(key: key, value: value, headers: headers) }
    }

    /// Decodes where the message and its headers lie (in a Kafka client's buffers, say).
    /// The contract's schemas are looked up once, for the check and the upcast.
    public func decode(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: UnsafeBufferPointer<HeaderBytes>
    ) throws(ContractError) -> Contract {
        let contract = try codec.decode(key: key, value: value, headers: headers)
        let schemas = try schemas(for: contract.name)
        try Self.validate(contract, against: schemas)
        return try upcast(contract, schemas)
    }

    /// Validates and encodes a contract for publishing.
    public func encode(_ contract: Contract) throws(ContractError) -> EncodedContract {
        try validate(contract)
        return try codec.encode(contract)
    }

    /// Checks a contract against the schema of its own version.
    public func validate(_ contract: Contract) throws(ContractError) {
        try Self.validate(contract, against: try schemas(for: contract.name))
    }

    static func validate(_ contract: Contract, against schemas: ContractSchemas) throws(ContractError) {
        guard contract.version <= schemas.latestVersion else {
            throw ContractError.unknownVersion(contract: contract.name.rawValue, version: contract.version, latest: schemas.latestVersion)
        }
        let issues = schemas.issues(of: contract)
        guard issues.isEmpty else {
            throw ContractError.invalidPayload(contract: contract.name.rawValue, version: contract.version, issues: issues)
        }
    }

    /// Brings a contract to the latest version of its schema, step by step.
    public func upcast(_ contract: Contract) throws(ContractError) -> Contract {
        try upcast(contract, try schemas(for: contract.name))
    }

    func upcast(_ contract: Contract, _ schemas: ContractSchemas) throws(ContractError) -> Contract {
        guard contract.version <= schemas.latestVersion else {
            throw ContractError.unknownVersion(contract: contract.name.rawValue, version: contract.version, latest: schemas.latestVersion)
        }
        // Already the latest: no copy to make and nothing to check again.
        guard contract.version < schemas.latestVersion else { return contract }
        var current = contract
        while current.version < schemas.latestVersion {
            let from = current.version
            try schemas.definition.upcasts[from]?.apply(to: &current)
            try upcasters["\(contract.name.rawValue)#\(from)"]?.upcast(&current, fromVersion: from)
            current.version = from + 1
        }
        let issues = schemas.issues(of: current)
        guard issues.isEmpty else {
            throw ContractError.upcastFailed(
                contract: contract.name.rawValue,
                fromVersion: contract.version,
                reason: "the result does not match v\(current.version): " + issues.map(\.description).joined(separator: "; ")
            )
        }
        return current
    }
}
