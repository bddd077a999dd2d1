import PumphouseContracts

/// Why a cache refused a change or an archive read. The cache's memory is unchanged
/// whenever one is thrown, except `unconfirmed`, which is about a change already made.
public enum CacheError: Error, Sendable, CustomStringConvertible {
    /// An update or increment of a key that has no entity.
    case missing(cache: ContractName, key: String)
    /// The change does not fit the contract's schema, or the value cannot be encoded.
    case invalid(cache: ContractName, key: String, reason: String)
    /// The spool is full: the broker has been away too long for the configured room.
    case backPressure(cache: ContractName, reason: String)
    /// The unit is stopping or stopped.
    case closed(cache: ContractName)
    /// No data reader answered an archive read in time.
    case archiveTimeout(cache: ContractName, key: String, after: Duration)
    /// The archive read was answered with an error, or cannot be made for this cache.
    case archiveFailed(cache: ContractName, key: String, reason: String)
    /// A create was published but did not come back on the pump within the timeout, so
    /// whether it won is not known yet. It stays in the pump; the log decides it.
    case unconfirmed(cache: ContractName, key: String, timeout: Duration)
    /// In a partitioned cache, the key's partition is decided by another unit (`owner`),
    /// or by none while its ownership moves: only the owner changes its keys.
    case notOwner(cache: ContractName, key: String, partition: Int32, owner: String?)

    /// The case and the cache, and no key, value or reason (a reason may quote a value):
    /// what a log may say of the error, since keys are row data.
    public var logSafeDescription: String {
        switch self {
        case .missing(let cache, _): "\(cache): no such entity"
        case .invalid(let cache, _, _): "\(cache): change refused as invalid"
        case .backPressure(let cache, _): "\(cache): change refused for back-pressure (the spool is full)"
        case .closed(let cache): "\(cache): the processing unit is shutting down"
        case .archiveTimeout(let cache, _, let after): "\(cache): archive read timed out after \(after)"
        case .archiveFailed(let cache, _, _): "\(cache): archive read failed"
        case .unconfirmed(let cache, _, let timeout): "\(cache): create not confirmed within \(timeout)"
        case .notOwner(let cache, _, let partition, _): "\(cache): partition \(partition) is decided by another unit"
        }
    }

    public var description: String {
        switch self {
        case .missing(let cache, let key):
            "\(cache) has no entity \"\(key)\"; add it first (put) or check the key"
        case .invalid(let cache, let key, let reason):
            "change to \(cache) \"\(key)\" refused: \(reason)"
        case .backPressure(let cache, let reason):
            "change to \(cache) refused to keep memory and disk bounded: \(reason); retry later, or raise spoolMaxPendingBytes"
        case .closed(let cache):
            "change to \(cache) refused: the processing unit is shutting down"
        case .archiveTimeout(let cache, let key, let after):
            "archive read of \(cache) \"\(key)\" timed out after \(after): no data reader answered; is `pumphouse reader` running?"
        case .archiveFailed(let cache, let key, let reason):
            "archive read of \(cache) \"\(key)\" failed: \(reason)"
        case .unconfirmed(let cache, let key, let timeout):
            "create of \(cache) \"\(key)\" not confirmed within \(timeout): the broker has not returned it yet; it is kept and decided in log order, so read the key again later instead of creating it again"
        case .notOwner(let cache, let key, let partition, let owner?):
            "change to \(cache) \"\(key)\" refused: its partition \(partition) is owned by unit \(owner), which alone decides it; send the request to that unit"
        case .notOwner(let cache, let key, let partition, nil):
            "change to \(cache) \"\(key)\" refused: no unit owns its partition \(partition) yet (ownership is being settled after a unit joined or left); retry shortly"
        }
    }
}
