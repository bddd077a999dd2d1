/// Why a schema file is not usable, with the JSON pointer of the offending keyword.
public struct SchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    public let pointer: String
    public let message: String

    public init(pointer: String, message: String) {
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
}
