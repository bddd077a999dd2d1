/// What one message of a cache's topic is: a change, or (in a partitioned cache) an
/// ownership claim.
package enum PartitionRecord: Sendable, Hashable {
    case change(Contract)
    case claim(OwnershipClaim)
}

extension ContractRegistry {
    /// Decodes a message as a change (as `decode` does) or as an ownership claim. The
    /// `ph-record` header says which without parsing the body; a claim whose headers some
    /// hop stripped is still recognised by its body, after the change's decode fails.
    package func decodeRecord(key: [UInt8]?, value: [UInt8]?, headers: [(name: String, value: [UInt8]?)] = []) throws(ContractError) -> PartitionRecord {
        try withBytes(of: value) { (value) throws(ContractError) in
            try withBytes(of: key) { (key) throws(ContractError) in
                try withHeaderBytes(headers) { (headers) throws(ContractError) in try decodeRecord(key: key, value: value, headers: headers) }
            }
        }
    }

    /// `decodeRecord(key:value:headers:)` where the message lies, in a Kafka client's
    /// buffers say.
    package func decodeRecord(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: UnsafeBufferPointer<HeaderBytes>
    ) throws(ContractError) -> PartitionRecord {
        if OwnershipClaim.isClaim(headers: headers) {
            guard let value, let claim = try OwnershipClaim(body: Array(value)) else {
                throw ContractError.invalidEnvelope(member: "record", problem: "the \(OwnershipClaim.recordHeader) header says \(OwnershipClaim.recordName), but the body is not one")
            }
            return .claim(claim)
        }
        do {
            return .change(try decode(key: key, value: value, headers: headers))
        } catch {
            if let value, let claim = try? OwnershipClaim(body: Array(value)) { return .claim(claim) }
            throw error
        }
    }
}
