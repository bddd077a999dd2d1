extension String {
    /// Text from a NUL-terminated buffer that librdkafka filled (error strings).
    package init(cBuffer: [CChar]) {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
