extension StringProtocol {
    /// Without leading and trailing whitespace and newlines: a list item as written in a
    /// setting, or a C library's message, which ends in a newline.
    package func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
