import PumphousePostgres
import Testing

@Suite("COPY text encoding, field by field")
struct PostgresCopyEncoderTests {
    @Test("fields are tab-separated, rows end in a newline, NULL is \\N, and the four special bytes are escaped wherever they stand")
    func fields() {
        var encoder = PostgresCopyEncoder()
        encoder.appendField("\\lead")
        encoder.appendNull()
        encoder.appendField("mid\tdle")
        encoder.appendField("trail\r\n")
        encoder.appendField("")
        encoder.endRow()
        encoder.appendField("\\\\")
        encoder.appendField(nil as String?)
        encoder.endRow()
        let expected = "\\\\lead\t\\N\tmid\\tdle\ttrail\\r\\n\t\n\\\\\\\\\t\\N\n"
        #expect(encoder.bytes == Array(expected.utf8))
        #expect(encoder.rowCount == 2)
    }

    @Test("integers are spelled as String(value) spells them, the extremes included")
    func integers() {
        let values: [Int64] = [0, 7, -7, 10, 1_234_567_890, Int64.max, Int64.min, -1]
        var encoder = PostgresCopyEncoder()
        for value in values { encoder.appendField(value) }
        encoder.endRow()
        #expect(encoder.bytes == Array((values.map { String($0) }.joined(separator: "\t") + "\n").utf8))
    }

    @Test("a whole row and the same row field by field encode alike, and removeAll starts afresh")
    func rowsAndFieldsAgree() {
        let row: [String?] = ["a\tb", nil, "", "ü\\"]
        var whole = PostgresCopyEncoder()
        whole.append(row: row)
        var byField = PostgresCopyEncoder()
        byField.appendField("stale")
        byField.removeAll()
        for value in row { byField.appendField(value) }
        byField.endRow()
        #expect(whole.bytes == byField.bytes)
        #expect(byField.rowCount == 1)
    }
}
