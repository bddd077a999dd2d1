import Synchronization

/// A `pattern` keyword, compiled once per document, with the recent outcomes of matching it.
///
/// A match through Swift's Regex costs about 2 µs even for `^[A-Z]{3}$`, more than the
/// rest of a contract's validation, while the values a pattern sees repeat (currency
/// codes, statuses). So each pattern remembers whether short texts matched: a bounded
/// table, emptied when full, keyed by the text's bytes. Regex values are immutable once
/// built; the class is unchecked because `Regex<AnyRegexOutput>` is not declared Sendable.
final class SchemaPattern: @unchecked Sendable {
    /// Texts longer than this (in UTF-8 bytes) are matched every time, never remembered.
    static let rememberedLength = 64
    /// Outcomes remembered before the table is emptied.
    static let rememberedTexts = 4_096

    /// The pattern as the schema spells it, for failure messages.
    let source: String
    private let regex: Regex<AnyRegexOutput>?
    private let outcomes = Mutex<[ExactKey: Bool]>([:])

    init(_ source: String) {
        self.source = source
        // Unicode scalars, as ECMA-262 patterns match: Swift's default (grapheme clusters
        // under canonical equivalence) would let one spelling of a text match where a
        // byte-different one that PostgreSQL keeps apart does not. `\d` and `\w` (and so
        // `\b`) are ECMA-262's ASCII classes: Swift's take every Unicode digit ("١٢٣٤"
        // for `^\d{4}$`) and letter.
        self.regex = (try? Regex(source))?.matchingSemantics(.unicodeScalar).asciiOnlyDigits().asciiOnlyWordCharacters()
    }

    func matches(_ text: String) -> Bool {
        guard let regex else { return false }
        guard text.utf8.count <= Self.rememberedLength else { return (try? regex.firstMatch(in: text)) != nil }
        let key = ExactKey(text)
        if let known = outcomes.withLock({ $0[key] }) { return known }
        let matched = (try? regex.firstMatch(in: text)) != nil
        outcomes.withLock { outcomes in
            if outcomes.count >= Self.rememberedTexts { outcomes.removeAll(keepingCapacity: true) }
            outcomes[key] = matched
        }
        return matched
    }
}
