/// Why bytes are not an acceptable JSON document, with the byte offset where it went wrong.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidUTF8
        case invalidEscape
        case invalidNumber
        case duplicateMember(String)
        case tooDeep(limit: Int)
        case tooLarge(limit: Int)
        case trailingData
        case notRepresentable(String)
    }

    public let reason: Reason
    public let offset: Int

    public init(reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        let what = switch reason {
        case .unexpectedEnd: "unexpected end of input"
        case .unexpectedByte(let b): b >= 0x20 && b < 0x7f ? "unexpected character '\(Character(Unicode.Scalar(b)))'" : "unexpected byte 0x\(String(b, radix: 16))"
        case .invalidUTF8: "invalid UTF-8"
        case .invalidEscape: "invalid escape sequence"
        case .invalidNumber: "invalid number"
        case .duplicateMember(let name): "duplicate member \"\(name)\""
        case .tooDeep(let limit): "nested deeper than \(limit) levels"
        case .tooLarge(let limit): "larger than \(limit) bytes"
        case .trailingData: "data after the JSON value"
        case .notRepresentable(let what): "\(what) cannot be written as JSON"
        }
        return "invalid JSON at byte \(offset): \(what)"
    }
}
