#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The size a fault scenario runs at. The short form keeps `make test` within its time;
/// `make soak` sets `PUMPHOUSE_SOAK=1` for the long form the guarantees are stated at
/// (docs/reliability.md), so both forms run the same code and differ only in numbers.
public enum ScenarioForm: Sendable {
    case short
    case soak

    public static var current: ScenarioForm {
        guard let value = getenv("PUMPHOUSE_SOAK").map({ String(cString: $0) }) else { return .short }
        return value == "1" ? .soak : .short
    }

    public func pick<T>(short: T, soak: T) -> T {
        self == .short ? short : soak
    }
}
