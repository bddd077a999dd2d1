/// Why a message is not an acceptable contract. Each case names what is wrong and what
/// to fix; `code` is the stable token dead letters carry in their reason header.
public enum ContractError: Error, Sendable, Hashable, CustomStringConvertible {
    case oversize(bytes: Int, limit: Int)
    /// Not JSON, or not UTF-8 (see the JSON error's reason).
    case invalidJSON(JSONError)
    case invalidEnvelope(member: String, problem: String)
    case keyMismatch(messageKey: String?, contractKey: String)
    case headerMismatch(header: String, headerValue: String, bodyValue: String)
    case unknownContract(String)
    case unknownVersion(contract: String, version: Int, latest: Int)
    case invalidPayload(contract: String, version: Int, issues: [SchemaValidationIssue])
    case upcastFailed(contract: String, fromVersion: Int, reason: String)

    public var code: String {
        switch self {
        case .oversize: "oversize"
        case .invalidJSON(let error): error.reason == .invalidUTF8 ? "invalid-utf8" : "invalid-json"
        case .invalidEnvelope: "invalid-envelope"
        case .keyMismatch: "key-mismatch"
        case .headerMismatch: "header-mismatch"
        case .unknownContract: "unknown-contract"
        case .unknownVersion: "unknown-version"
        case .invalidPayload: "invalid-payload"
        case .upcastFailed: "upcast-failed"
        }
    }

    public var description: String {
        switch self {
        case .oversize(let bytes, let limit):
            "contract of \(bytes) bytes exceeds the \(limit)-byte limit; split the entity or raise the limit"
        case .invalidJSON(let error):
            "contract body is not valid JSON: \(error)"
        case .invalidEnvelope(let member, let problem):
            "contract envelope member \"\(member)\": \(problem)"
        case .keyMismatch(let messageKey, let contractKey):
            "message key \(messageKey.map { $0.count > 256 ? "\"\($0.prefix(256))\"... (\($0.utf8.count) bytes)" : "\"\($0)\"" } ?? "(none)") differs from the contract's key \"\(contractKey)\"; publish with the entity key as the message key"
        case .headerMismatch(let header, let headerValue, let bodyValue):
            "header \(header) says \"\(headerValue)\" but the body says \"\(bodyValue)\""
        case .unknownContract(let name):
            "unknown contract \"\(name)\": no folder Schemas/\(name) was loaded"
        case .unknownVersion(let contract, let version, let latest):
            "contract \(contract) version \(version) is unknown (latest known: v\(latest)); deploy the newer schema before its producers"
        case .invalidPayload(let contract, let version, let issues):
            "contract \(contract) v\(version) does not match its schema: " + issues.map(\.description).joined(separator: "; ")
        case .upcastFailed(let contract, let fromVersion, let reason):
            "contract \(contract) could not be upcast from v\(fromVersion): \(reason)"
        }
    }
}
