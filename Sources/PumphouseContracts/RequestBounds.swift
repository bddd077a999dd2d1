/// Bounds on the values a request may carry, to a service built on units or to the data
/// readers, shared so that every place refuses alike.
package enum RequestBounds {
    /// The last millisecond of year 9999, the latest time PostgreSQL's timestamps and
    /// ISO 8601 dates both hold: the latest epoch-millisecond instant a request may name.
    package static let latestInstant: Int64 = 253_402_300_799_999
}
