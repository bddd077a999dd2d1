/// A record with the number the spool gave it: its place in the spool, in append order,
/// increasing across restarts. Acknowledgements name records by it.
public struct SpooledRecord: Sendable, Hashable {
    public var number: Int64
    public var record: SpoolRecord

    public init(number: Int64, record: SpoolRecord) {
        self.number = number
        self.record = record
    }
}
