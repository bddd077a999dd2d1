/// A record with the number the spool gave it: its place in the spool, in append order,
/// increasing across restarts. Acknowledgements name records by it.
package struct SpooledRecord: Sendable, Hashable {
    package var number: Int64
    package var record: SpoolRecord

    package init(number: Int64, record: SpoolRecord) {
        self.number = number
        self.record = record
    }
}
