/// Where a JSON pointer points in a JSON text, as a line number: so a schema problem can
/// name the line of the offending keyword (a CI annotation, an editor jump) and not
/// only its pointer. The parsed document keeps no positions, and only reports need
/// them, so this scans the file's bytes again for the one pointer asked about.
///
/// Member names compare by their decoded bytes, as the pointer's tokens do (RFC 6901:
/// `~1` is `/`, `~0` is `~`).
package enum JSONPointerLine {
    /// The 1-based line of the deepest member or element on `pointer`'s path that `text`
    /// has: a property the newer schema removed points at its parent. Line 1 for the
    /// root, and for text that is not JSON.
    package static func line(of pointer: String, in text: [UInt8]) -> Int {
        let tokens: [[UInt8]] = pointer.isEmpty
            ? []
            : pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
                Array($0.replacing("~1", with: "/").replacing("~0", with: "~").utf8)
            }
        var scanner = Scanner(text: text, tokens: tokens)
        scanner.value(matched: 0)
        return scanner.found
    }

    private struct Scanner {
        static let space = Array(" \t\r\n".utf8)
        static let ends = Array(",]} \t\r\n".utf8)
        let text: [UInt8]
        let tokens: [[UInt8]]
        var index = 0
        var line = 1
        var found = 1

        init(text: [UInt8], tokens: [[UInt8]]) {
            self.text = text
            self.tokens = tokens
        }

        /// Scans one value; `matched` is how many tokens lead to it (nil: off the path).
        mutating func value(matched: Int?) {
            skipSpace()
            guard index < text.count else { return }
            switch text[index] {
            case UInt8(ascii: "{"):
                index += 1
                while true {
                    skipSpace()
                    guard index < text.count, text[index] != UInt8(ascii: "}") else { break }
                    let before = index
                    guard text[index] == UInt8(ascii: "\"") else { index = text.count; return }
                    let keyLine = line
                    let key = string()
                    skipSpace()
                    guard index < text.count, text[index] == UInt8(ascii: ":") else { index = text.count; return }
                    index += 1
                    value(matched: step(matched, key, line: keyLine))
                    separator()
                    guard index > before else { index = text.count; return }
                }
                index += 1
            case UInt8(ascii: "["):
                index += 1
                var element = 0
                while true {
                    skipSpace()
                    guard index < text.count, text[index] != UInt8(ascii: "]") else { break }
                    // Text that is not JSON (a stray `}`) must not stall the scan.
                    let before = index
                    value(matched: step(matched, Array(String(element).utf8), line: line))
                    element += 1
                    separator()
                    guard index > before else { index = text.count; return }
                }
                index += 1
            case UInt8(ascii: "\""):
                _ = string()
            default:
                while index < text.count, !Self.ends.contains(text[index]) { index += 1 }
            }
        }

        /// Whether the member or element named `name` continues the pointer's path.
        mutating func step(_ matched: Int?, _ name: [UInt8], line: Int) -> Int? {
            guard let matched, matched < tokens.count, tokens[matched] == name else { return nil }
            found = line
            return matched + 1
        }

        mutating func separator() {
            skipSpace()
            if index < text.count, text[index] == UInt8(ascii: ",") { index += 1 }
        }

        mutating func skipSpace() {
            while index < text.count, Self.space.contains(text[index]) {
                if text[index] == UInt8(ascii: "\n") { line += 1 }
                index += 1
            }
        }

        /// A string's decoded bytes (the project's parser decodes its escapes); the
        /// scanner stands after its closing quote.
        mutating func string() -> [UInt8] {
            let start = index
            index += 1
            while index < text.count, text[index] != UInt8(ascii: "\"") {
                index += text[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            index += 1
            guard index <= text.count, case .string(let decoded)? = try? JSONParser().parse(Array(text[start..<index])) else { return [] }
            return Array(decoded.utf8)
        }
    }
}
