import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import PumphouseContracts
import PumphouseUnit

/// Asks every owner of a partitioned cache's partitions for its own share of one request
/// and gathers the answers: the scatter-gather of a partitioned grid, for what spans
/// every partition (a concert's seat map, laying out its hall).
///
/// Each owner is asked for the partitions this unit's routing table names it owner of
/// (`?partitions=0,2`, marked forwarded) and answers for exactly those, refusing (421) any
/// it does not own: so every partition is answered once, by its owner, even while
/// ownership moves. Any answer but a success makes the whole request a retry for its
/// caller (503, with the owner's reason), never a map with a hole or a double.
public struct OwnerFanOut: Sendable {
    /// The partitions one unit owns, and where it serves.
    public struct Share: Sendable, Equatable {
        public var owner: String
        public var address: String
        public var partitions: [Int32]
    }

    /// Who answers for which partitions.
    public struct Plan: Sendable, Equatable {
        /// Those this unit owns: it answers for them itself.
        public var local: [Int32]
        /// Those other units own, one share per unit.
        public var remote: [Share]
    }

    let unit: ProcessingUnit
    public let cache: ContractName
    let timeout: TimeAmount

    public init(unit: ProcessingUnit, cache: ContractName, timeout: Duration = .seconds(10)) {
        self.unit = unit
        self.cache = cache
        self.timeout = TimeAmount(timeout)
    }

    /// The query parameter naming the partitions an owner is asked for.
    public static let partitionsParameter = "partitions"

    /// Splits the cache's partitions between this unit and the other owners, from this
    /// unit's routing table. Fails (retryably) while a partition has no owner, or an
    /// owner no known address.
    public func plan() throws(FanOutFailed) -> Plan {
        guard let table = unit.routingTable(of: cache) else {
            throw FanOutFailed(description: "cache \(cache) is not partitioned in this unit's pipeline")
        }
        var plan = Plan(local: [], remote: [])
        for route in table.partitions {
            guard let owner = route.owner else {
                throw FanOutFailed(description: "partition \(route.partition) of \(cache) has no owner while its ownership moves; retry in a moment")
            }
            if owner.isSameBytes(as: unit.id) {
                plan.local.append(route.partition)
            } else if let index = plan.remote.firstIndex(where: { $0.owner.isSameBytes(as: owner) }) {
                plan.remote[index].partitions.append(route.partition)
            } else if let address = route.address {
                plan.remote.append(Share(owner: owner, address: address, partitions: [route.partition]))
            } else {
                throw FanOutFailed(description: "unit \(owner) owns partition \(route.partition) of \(cache), and this unit does not know where it serves; retry in a moment")
            }
        }
        return plan
    }

    /// Sends `path` (which has no query) to the owner of `share` for its partitions, and
    /// returns its answer's body. Anything else is a retry (503) naming what the owner
    /// said: a 421 (it no longer owns one of them), a 404 (what the caller found has not
    /// reached it), or its own trouble.
    public func ask(_ share: Share, _ method: HTTPRequest.Method, _ path: String, body: [UInt8]? = nil) async throws(FanOutFailed) -> [UInt8] {
        let partitions = share.partitions.map(String.init).joined(separator: ",")
        let answer: HTTPClientResponse
        let answerBody: ByteBuffer
        do {
            answer = try await OwnerForwarding.send(
                method, "http://\(share.address)\(path)?\(Self.partitionsParameter)=\(partitions)", contentType: body == nil ? nil : "application/json",
                body: body.map { ByteBuffer(bytes: $0) }, timeout: timeout
            )
            // Whole, since the parts are decoded and put together; bounded, since an
            // owner's share of one concert is far smaller.
            answerBody = try await answer.body.collect(upTo: 64 << 20)
        } catch {
            throw FanOutFailed(description: "unit \(share.owner) owns partitions \(partitions) of \(cache), and asking it at \(share.address) failed (\(error)); retry in a moment")
        }
        switch answer.status.code {
        case 200..<300:
            return Array(answerBody.readableBytesView)
        case 421:
            throw FanOutFailed(description: "unit \(share.owner) no longer owns all of partitions \(partitions) of \(cache): ownership is moving; retry in a moment")
        default:
            let detail = (try? JSONDecoder().decode([String: String].self, from: answerBody))?["detail"] ?? ""
            throw FanOutFailed(description: "unit \(share.owner), asked for partitions \(partitions) of \(cache), answered HTTP \(answer.status.code) \(detail); retry in a moment")
        }
    }

    /// The partitions a request asks this unit for, if it was sent by a fan-out; nil for
    /// a caller's own request. Fails on a list that is not partition numbers.
    public static func partitions(askedBy request: Request) throws(FanOutFailed) -> [Int32]? {
        guard let list = request.uri.queryParameters[Self.partitionsParameter[...]] else { return nil }
        var partitions: [Int32] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            guard let partition = Int32(item), partition >= 0, !partitions.contains(partition) else {
                throw FanOutFailed(status: .badRequest, description: "query parameter \(Self.partitionsParameter) must list distinct partition numbers separated by commas, as `0,2`")
            }
            partitions.append(partition)
        }
        return partitions
    }
}

/// A fan-out that could not gather every partition: by default 503, retry in a moment
/// (ownership is moving, or an owner cannot be reached); otherwise the status an owner
/// refused its share with.
public struct FanOutFailed: JSONAPIError, Equatable {
    public var status: HTTPResponse.Status
    public var description: String
    public var code: String { status == .serviceUnavailable ? "unavailable" : status == .badRequest ? "bad-request" : "refused" }

    public init(status: HTTPResponse.Status = .serviceUnavailable, description: String) {
        self.status = status
        self.description = description
    }
}
