/// When a change counts as done for the caller that made it.
///
/// Every change is in the unit's memory and its durable spool before the call returns, so
/// a crashed unit resends it when it starts again. What that does not cover is the
/// machine lost for good before the broker took the change; a caller who must not lose
/// it then waits for the broker.
public enum Confirmation: Sendable, Hashable {
    /// In a replicated cache, `create` answers once the log decided (the echo, which the
    /// broker acknowledged first); in a partitioned cache, at once on the owner, the
    /// fastest answer, which a failover can still fence if the broker had not taken the
    /// change when the next owner's claim landed.
    case decided
    /// Also waits until the broker acknowledged the change (acks=all): a partitioned
    /// cache's owner then answers after one round trip to the broker, not after the echo.
    case brokerAcknowledged
}
