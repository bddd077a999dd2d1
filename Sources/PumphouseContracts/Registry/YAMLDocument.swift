import Yams

/// YAML read into the same `JSONValue` tree the schemas use, so configuration files are
/// checked with the same precise, pointer-naming errors.
package enum YAMLDocument {
    package static func parse(_ text: String, file: String) throws(ContractDefinitionError) -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ContractDefinitionError(file: file, pointer: "", message: "not valid YAML: \(error)")
        }
        guard let node else { return .object(JSONObject()) }
        return try convert(node, file: file, pointer: "")
    }

    static func convert(_ node: Node, file: String, pointer: String) throws(ContractDefinitionError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            // YAML 1.1 reads `1:30` as a base-60 number, and Yams's arithmetic for it
            // traps on overflow (`1:0:0:0:0:0:0:0:0:0:0`): such a scalar stays text, and a
            // key that wants a number then names itself and the value.
            let sexagesimal = scalar.string.utf8.contains(UInt8(ascii: ":"))
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            // Only a plain decimal is a number: YAML 1.1 also reads `0123` as octal, `0x1F`,
            // `1_000` and `+5`, which a text setting would then get back as another text
            // (a password `0123` as "83"). Such a scalar stays as written, and a key that
            // wants a number names itself and the value.
            case .int where !sexagesimal && isPlainDecimal(scalar.string): return node.int.map { .int(Int64($0)) } ?? .string(scalar.string)
            case .int: return .string(scalar.string)
            case .float where !sexagesimal: return node.float.map(JSONValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, file: file, pointer: "\(pointer)/\(index)"))
            }
            return .array(items)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw ContractDefinitionError(file: file, pointer: pointer, message: "mapping keys must be strings")
                }
                guard object[name] == nil else {
                    throw ContractDefinitionError(file: file, pointer: "\(pointer)/\(name)", message: "key \"\(name)\" appears twice")
                }
                object[name] = try convert(value, file: file, pointer: "\(pointer)/\(name)")
            }
            return .object(object)
        case .alias:
            throw ContractDefinitionError(file: file, pointer: pointer, message: "YAML aliases are not supported; write the value out")
        }
    }

    /// `0`, or digits without a leading zero, after an optional minus (not `-0`): what
    /// `String(Int64)` spells, so the number reads back as the same text.
    static func isPlainDecimal(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" { digits = digits.dropFirst() }
        guard let first = digits.first, digits.allSatisfy({ $0.isASCII && $0.isWholeNumber }) else { return false }
        return first != "0" || (digits.count == 1 && text.count == 1)
    }
}

/// A problem in a `contract.yaml` (or another YAML file), with the key path.
package struct ContractDefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    package let file: String
    package let pointer: String
    package let message: String

    package var description: String { "\(file)\(pointer.isEmpty ? "" : " \(pointer)"): \(message)" }
}
