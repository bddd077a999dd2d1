/// What scanning one segment file found: the records that verified, and where and why
/// the scan stopped if it did not reach the end of the file.
struct SegmentScan {
    struct Damage {
        var offset: Int
        var reason: String
        /// Whether the damage looks like a write the crash cut short: the file ends inside
        /// the record, or it fails its checksum with no intact record after it. Only such
        /// damage, and only at the end of the newest segment, is safe to truncate.
        var mayBeTornWrite: Bool
    }

    var records: [SpooledRecord] = []
    /// The length of the intact prefix: where a torn tail is cut off.
    var validBytes = 0
    var damage: Damage?
}
