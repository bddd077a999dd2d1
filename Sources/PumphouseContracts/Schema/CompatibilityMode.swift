/// How a contract's schema may evolve, with Confluent Schema Registry's meanings.
///
/// BACKWARD: consumers on the new schema read data written with the previous one, so
/// upgrade consumers (writers, readers) first. FORWARD: consumers on the previous schema
/// read data written with the new one, so upgrade producers (units) first. FULL: both.
/// The _TRANSITIVE forms check against every earlier version, not just the previous.
public enum CompatibilityMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case backward = "BACKWARD"
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    case forward = "FORWARD"
    case forwardTransitive = "FORWARD_TRANSITIVE"
    case full = "FULL"
    case fullTransitive = "FULL_TRANSITIVE"
    case none = "NONE"

    public var description: String { rawValue }

    /// Accepts `backward`, `BACKWARD_TRANSITIVE`, `full-transitive` and the like.
    public init?(parsing text: String) {
        self.init(rawValue: text.uppercased().replacing("-", with: "_"))
    }

    public var isTransitive: Bool { [.backwardTransitive, .forwardTransitive, .fullTransitive].contains(self) }

    public var directions: [CompatibilityDirection] {
        switch self {
        case .backward, .backwardTransitive: [.backward]
        case .forward, .forwardTransitive: [.forward]
        case .full, .fullTransitive: [.backward, .forward]
        case .none: []
        }
    }
}

/// Which side reads which: backward means the new schema reads the old one's data.
public enum CompatibilityDirection: String, Sendable, Hashable {
    case backward
    case forward
}

/// One breaking change found between two schemas.
public struct SchemaIncompatibility: Sendable, Hashable, CustomStringConvertible {
    public let direction: CompatibilityDirection
    /// JSON pointer of the place in the reading schema.
    public let pointer: String
    /// Confluent-style difference type, e.g. `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`.
    public let rule: String
    public let message: String

    public var description: String {
        "\(direction.rawValue.uppercased()) \(pointer.isEmpty ? "/" : pointer): \(rule): \(message)"
    }
}
