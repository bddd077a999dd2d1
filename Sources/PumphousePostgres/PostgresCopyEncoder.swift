/// Encodes rows in COPY's text format, the fastest way to load many rows.
///
/// Escaping follows PostgreSQL's rules for the text format: backslash, tab, newline and
/// carriage return are escaped; `\N` is NULL. Nothing else needs escaping, so values
/// with quotes, semicolons or SQL in them load as plain data.
///
/// A row is given whole (`append(row:)`) or field by field (`appendField`, then
/// `endRow()`): a writer staging a batch has its values at hand one by one, and building
/// an array of Strings per row only to take it apart here cost it an allocation a row.
public struct PostgresCopyEncoder: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var rowCount = 0
    /// Fields appended to the row being written: each one after the first is preceded
    /// by a tab.
    private var fieldsInRow = 0

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func append(row: [String?]) {
        for value in row { appendField(value) }
        endRow()
    }

    /// The next field of the current row: the text, or NULL for nil.
    public mutating func appendField(_ value: String?) {
        guard var value else { return appendNull() }
        separate()
        value.withUTF8 { appendEscaped($0) }
    }

    /// The next field: an integer as PostgreSQL's text input and `String(value)` spell
    /// it, written without making a String.
    public mutating func appendField(_ value: Int64) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    /// The next field: NULL.
    public mutating func appendNull() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    /// Ends the current row; the next field starts a new one.
    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        fieldsInRow = 0
        rowCount += 1
    }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fieldsInRow = 0
        rowCount = 0
    }

    private mutating func separate() {
        if fieldsInRow > 0 { bytes.append(UInt8(ascii: "\t")) }
        fieldsInRow += 1
    }

    /// Copies `text` in runs between the bytes COPY escapes, so a value with none (nearly
    /// all) is one copy.
    private mutating func appendEscaped(_ text: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for (index, byte) in text.enumerated() {
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
            default: continue
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[runStart..<index]))
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(escaped)
            runStart = index + 1
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[runStart...]))
    }
}
