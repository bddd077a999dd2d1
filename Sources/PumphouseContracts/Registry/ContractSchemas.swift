/// Every schema version of one contract, with what its contract.yaml declares.
public struct ContractSchemas: Sendable {
    public let name: ContractName
    public let definition: ContractDefinition
    /// `versions[0]` is v1.
    public let versions: [SchemaDocument]
    let validators: [SchemaValidator]

    public init(name: ContractName, definition: ContractDefinition, versions: [SchemaDocument]) {
        self.name = name
        self.definition = definition
        self.versions = versions
        self.validators = versions.map(SchemaValidator.init(document:))
    }

    public var latestVersion: Int { versions.count }

    public func schema(version: Int) -> SchemaDocument? {
        version >= 1 && version <= versions.count ? versions[version - 1] : nil
    }

    /// Schema problems of a contract at its own version, by action: an add or a create is
    /// checked whole, an update field by field (with deltas on numeric fields only), a delete
    /// carries nothing to check.
    public func issues(of contract: Contract) -> [SchemaValidationIssue] {
        guard contract.version >= 1 && contract.version <= validators.count else { return [] }
        let validator = validators[contract.version - 1]
        switch contract.action {
        case .add, .create:
            var issues = validator.validate(.object(contract.fields)).map { issue in
                SchemaValidationIssue(pointer: "/fields" + issue.pointer, keyword: issue.keyword, message: issue.message)
            }
            if let issue = keyFieldIssue(contract) { issues.append(issue) }
            return issues
        case .update:
            var issues: [SchemaValidationIssue] = []
            if let issue = keyFieldIssue(contract) { issues.append(issue) }
            for member in contract.fields {
                issues += validator.validateField(member.name, member.value).map { issue in
                    SchemaValidationIssue(pointer: "/fields" + issue.pointer, keyword: issue.keyword, message: issue.message)
                }
            }
            for member in contract.deltas {
                let pointer = "/deltas/" + SchemaParser.escape(member.name)
                guard let types = validator.declaredTypes(ofField: member.name) else {
                    issues.append(SchemaValidationIssue(pointer: pointer, keyword: "deltas", message: "field \"\(member.name)\" is not declared; deltas apply to declared numeric fields only"))
                    continue
                }
                guard !types.isDisjoint(with: .numeric) else {
                    issues.append(SchemaValidationIssue(pointer: pointer, keyword: "deltas", message: "field \"\(member.name)\" does not declare a numeric type; deltas apply to numbers only"))
                    continue
                }
                if !types.contains(.number), case .double = member.value {
                    issues.append(SchemaValidationIssue(pointer: pointer, keyword: "deltas", message: "field \"\(member.name)\" is an integer; its delta must be an integer"))
                }
            }
            return issues
        case .delete:
            return []
        }
    }

    /// The key field, where a change carries it, must hold the contract's key: the
    /// writer stores the row under the key field's value, and replicas keep the entity
    /// under the key, so two different bytes would put one change under two keys (and
    /// two adds naming one key field value under different keys would meet in one row
    /// twice). A string by its bytes; an integer as its decimal spelling. The message
    /// quotes neither value (row data stays out of logs).
    func keyFieldIssue(_ contract: Contract) -> SchemaValidationIssue? {
        guard let value = contract.fields[definition.keyField] else { return nil }
        let holdsKey = switch value {
        case .string(let text): text.isSameBytes(as: contract.key)
        case .int(let number): String(number).isSameBytes(as: contract.key)
        default: false
        }
        guard !holdsKey else { return nil }
        return SchemaValidationIssue(
            pointer: "/fields/" + SchemaParser.escape(definition.keyField), keyword: "key",
            message: "the key field must hold the contract's key, byte for byte (or, as an integer, its decimal spelling)"
        )
    }
}
