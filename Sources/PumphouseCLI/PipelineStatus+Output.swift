import Foundation
import PumphouseContracts

/// The two forms `pumphouse status` prints: a table for people, one JSON object for
/// scripts. The JSON keys are part of the command's interface (docs/operations.md lists
/// them), so they change only by adding.
extension PipelineStatus {
    var json: JSONValue {
        func member(_ member: Member, withSpool: Bool) -> JSONValue {
            var object: JSONObject = [
                "id": .string(member.id), "address": .string(member.address), "sinceMs": .int(member.since),
                "lastHeardMs": .int(member.lastHeard), "silentMs": .int(max(0, observedAt - member.lastHeard)),
            ]
            if withSpool {
                object["state"] = .string(member.state)
                object["unacknowledged"] = member.unacknowledged.map { .int(Int64($0)) } ?? .null
            }
            return .object(object)
        }
        return .object([
            "observedAtMs": .int(observedAt),
            "memberTopic": .string(memberTopic),
            "memberTimeoutMs": .int(memberTimeoutMilliseconds),
            "caches": .array(caches.map { cache in
                .object([
                    "cache": .string(cache.name), "topic": .string(cache.topic),
                    "mode": cache.mode.map { .string($0.name) } ?? .null, "backups": cache.mode?.backups.map { .int(Int64($0)) } ?? .null,
                    "members": .array(cache.members.map { member($0, withSpool: true) }),
                ])
            }),
            "writers": .array(writers.map { writer in
                .object([
                    "writer": .string(writer.name), "group": .string(writer.group), "lag": .int(writer.lag),
                    "partitions": .array(writer.partitions.map { partition in
                        .object([
                            "topic": .string(partition.topic), "partition": .int(Int64(partition.partition)),
                            "storedOffset": partition.storedOffset.map(JSONValue.int) ?? .null,
                            "highWatermark": .int(partition.highWatermark), "lag": .int(partition.lag),
                            "ownershipTerm": partition.ownership.map { .int($0.term) } ?? .null,
                            "partitionOwner": partition.ownership?.owner.map(JSONValue.string) ?? .null,
                        ])
                    }),
                ])
            }),
            "routing": .array(routes.map { route in
                .object([
                    "cache": .string(route.cache), "partition": .int(Int64(route.partition)), "ownershipTerm": .int(route.ownership.term),
                    "owner": route.ownership.owner.map(JSONValue.string) ?? .null, "address": route.address.map(JSONValue.string) ?? .null,
                ])
            }),
            "deadLetters": .array(deadLetters.map { letters in
                .object(["writer": .string(letters.writer), "topic": .string(letters.topic), "count": .int(letters.count)])
            }),
            "sequenceGaps": .array(sequenceGaps.map { found in
                .object(["writer": .string(found.writer), "gaps": .int(found.gaps), "missing": .int(found.missing), "latest": .string(found.latest)])
            }),
            "collisions": .array(collisionPlans.map(\.json)),
            "readers": .object([
                "group": .string(readerGroup), "requestTopic": .string(requestTopic),
                "members": .array(readers.map { member($0, withSpool: false) }),
            ]),
            "problems": .array(problems.map(JSONValue.string)),
        ])
    }

    var text: String {
        var out: [String] = []
        out.append("caches (members from \(memberTopic); silent for more than \(memberTimeoutMilliseconds) ms is gone)")
        var rows = [["CACHE", "MEMBER", "ADDRESS", "STATE", "LAST HEARD", "UNACKNOWLEDGED"]]
        for cache in caches {
            let name = switch cache.mode {
            case .partitioned(let backups)?: "\(cache.name) (partitioned, \(backups) backup\(backups == 1 ? "" : "s"))"
            case .replicated?, nil: cache.name
            }
            if cache.members.isEmpty { rows.append([name, "-", "-", "no members", "-", "-"]) }
            for member in cache.members {
                rows.append([
                    name, member.id, member.address, member.state,
                    ago(member.lastHeard), member.unacknowledged.map(String.init) ?? "?",
                ])
            }
        }
        out += table(rows)

        var lags: [[String]] = []
        for writer in writers {
            if writer.partitions.isEmpty { lags.append([writer.name, "-", "-", "-", "-", "-", "-"]) }
            for partition in writer.partitions {
                let owner: String
                switch partition.ownership {
                case nil: owner = "-"
                case let ownership?: owner = ownership.owner.map { "\($0) (term \(ownership.term))" } ?? "unclaimed"
                }
                lags.append([
                    writer.name, partition.topic, String(partition.partition), partition.storedOffset.map(String.init) ?? "none",
                    String(partition.highWatermark), String(partition.lag), owner,
                ])
            }
        }
        out += section(
            "writers (lag: high watermark minus the offset stored with the rows; owner: a partitioned cache's, by the ownership claims applied)",
            ["WRITER", "TOPIC", "PARTITION", "STORED", "HIGH", "LAG", "OWNER"], lags, none: "none declared"
        )
        if !routes.isEmpty {
            out += section(
                "routing (partitioned caches: the owners as the writers folded the claims, their addresses from the members)",
                ["CACHE", "PARTITION", "OWNER", "TERM", "ADDRESS"],
                routes.map { [$0.cache, String($0.partition), $0.ownership.owner ?? "unclaimed", String($0.ownership.term), $0.address ?? "not a member"] },
                none: ""
            )
        }
        out += section("dead letters", ["WRITER", "TOPIC", "COUNT"], deadLetters.map { [$0.writer, $0.topic, String($0.count)] }, none: "none declared")
        if !sequenceGaps.isEmpty {
            out += section(
                "sequence gaps (changes units numbered that are not in the log; rows of pumphouse_writer_sequence_gaps)",
                ["WRITER", "GAPS", "MISSING", "LATEST"], sequenceGaps.map { [$0.writer, String($0.gaps), String($0.missing), $0.latest] }, none: ""
            )
        }
        if !collisionPlans.isEmpty {
            out += ["", "collisions (replicated caches: the forecast N × UR² / S × RL from the units' metrics over a short window, beside those counted; `pumphouse plan collisions --from-pipeline` watches longer)"]
            out += collisionPlans.flatMap { $0.text.split(separator: "\n").map { "  \($0)" } }
        }
        out += section(
            "readers (group \(readerGroup), requests on \(requestTopic))",
            ["READER", "ADDRESS", "LAST HEARD"], readers.map { [$0.id, $0.address, ago($0.lastHeard)] }, none: "none running"
        )
        if !problems.isEmpty {
            out.append("")
            out.append("problems")
            out += problems.map { "  \($0)" }
        }
        return out.joined(separator: "\n")
    }

    /// A section after the first: a blank line, its title, then its table, or `none`
    /// when it has no rows.
    private func section(_ title: String, _ header: [String], _ rows: [[String]], none: String) -> [String] {
        ["", title] + (rows.isEmpty ? ["  \(none)"] : table([header] + rows))
    }

    private func ago(_ milliseconds: Int64) -> String {
        String(format: "%.1f s ago", Double(max(0, observedAt - milliseconds)) / 1000)
    }

    /// Left-aligned columns, two spaces apart, indented under their section's title.
    private func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            return "  " + cells.joined(separator: "  ")
        }
    }
}
