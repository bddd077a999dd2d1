import ArgumentParser
import Foundation
import Logging
import PumphouseBlocking
import PumphouseCommandLine
import PumphouseContracts
import PumphouseKafka
import PumphousePostgres
import PumphouseReplay

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Fold a cache's topic into state; with --verify-db, compare it with the database (exit 0 equal, 1 different). Run it when the writer has caught up.",
        discussion: """
            Each partition is read from its start position to its end as the broker reports \
            it at the time (partition EOF). Only a replay from earliest holds the whole state; \
            from anywhere later, entities added before the start are missing and their updates \
            count as what a writer dead-letters.
            """
    )

    @OptionGroup var pipeline: PipelineOptions

    @Option(help: "The named cache (contract) whose topic to replay.")
    var cache: String

    // Unconditional, so `--from -1:5` reaches the check below instead of being taken for a flag.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Where to start: earliest, PARTITION:OFFSET,... or a timestamp.",
            discussion: """
                earliest (the default) reads every partition from its first message. \
                PARTITION:OFFSET pairs, e.g. 0:120,1:0, start each listed partition at that offset \
                (the next message read); partitions not listed start at earliest. A timestamp, \
                ISO 8601 (2026-11-21T10:00:00Z) or epoch milliseconds, starts each partition at its \
                first message at or after that time, as the broker resolves it (ListOffsets): the \
                local Tansu broker resolves every timestamp to offset 0, so there it replays \
                everything. Anything but earliest cannot be combined with --verify-db.
                """,
            valueName: "earliest|PARTITION:OFFSET,...|TIMESTAMP"
        )
    )
    var from: String = "earliest"

    @Flag(help: "Compare the folded state with the mapped table (only with --from earliest).")
    var verifyDb = false

    @Option(help: ArgumentHelp(
        "Write the folded state to this file, one {\"key\":…,\"state\":{…}} object per line, sorted by key.",
        discussion: "Written to FILE.tmp and renamed, so a failed run leaves FILE as it was.",
        valueName: "FILE.jsonl"
    ))
    var out: String?

    @Option(help: "Seconds to resolve the start and read the topic to its end before giving up.")
    var timeout: Int = 300

    func validate() throws {
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be from 1 to 86400 seconds, not \(timeout)") }
        let start = try Self.start(from)
        if verifyDb, start != .earliest {
            throw ValidationError("--verify-db needs --from earliest: a fold that starts at \(from) lacks the changes before it, so it cannot equal the table; verify with --from earliest, or drop --verify-db to see the later changes alone")
        }
        if let out {
            var isDirectory: ObjCBool = false
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--out \(out): directory \(directory) does not exist; create it or write elsewhere")
            }
        }
    }

    func run() async throws {
        let configuration = try pipeline.load()
        let logger = Logger(label: "pumphouse.replay")
        let replay: TopicReplay
        do {
            replay = try TopicReplay(configuration: configuration, cache: try ContractName(cache), logger: logger)
        } catch {
            throw UsageError("\(error)")
        }
        let start = try Self.start(from)
        try await pipeline.checkBroker(configuration)
        let state: TopicReplay.State
        let started = ContinuousClock.now
        do {
            state = try await replay.fold(from: start, timeout: .seconds(timeout))
        } catch let error as TopicReplay.UnknownPartitions {
            throw UsageError("--from \(from): \(error); name only partitions the topic has (unlisted ones start at earliest)")
        }
        if start != .earliest {
            let positions = state.startOffsets.sorted { $0.key < $1.key }.map { partition, offset in
                "\(partition):\(offset == .beginning ? "earliest" : offset == .end ? "end" : "\(offset)")"
            }
            let note = if case .timestamp = start { " (end: no message at or after that time)" } else { "" }
            print("started at \(positions.joined(separator: ","))\(note)")
        }
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.inSeconds
        let read = state.contracts + state.duplicates + state.rejected
        let fenced = state.fenced > 0 ? ", \(state.fenced) of them changes fenced by an ownership claim" : ""
        print("replayed \(state.contracts) contracts into \(state.entities.count) entities (\(state.duplicates) duplicates collapsed, \(state.rejected) that a writer dead-letters\(fenced))")
        print(String(format: "read %d messages in %.2f s (%.0f messages/s, connecting and reaching the end included)", read, seconds, seconds > 0 ? Double(read) / seconds : 0))
        if !state.sequenceGaps.isEmpty {
            let missing = state.sequenceGaps.missingChanges
            print("the topic misses \(missing) change(s) its origins numbered, in \(state.sequenceGaps.count) gap(s):")
            for gap in state.sequenceGaps.prefix(Self.gapsListed) { print("  \(gap)") }
            if state.sequenceGaps.count > Self.gapsListed { print("  and \(state.sequenceGaps.count - Self.gapsListed) more") }
        }
        if let out {
            try Self.write(try state.jsonLines(), to: out)
            print("wrote \(state.entities.count) entities to \(out)")
        }
        guard verifyDb else { return }
        let db = try await pipeline.connect(configuration, logger: logger)
        let differences = try await replay.verify(state, on: db)
        await db.close()
        if differences.isEmpty {
            print("the database equals the topic")
        } else {
            print("the database differs from the topic (first \(differences.count)):")
            for difference in differences { print("  \(difference)") }
            throw ExitCode(1)
        }
    }

    /// Gaps listed one per line; the rest are counted.
    static let gapsListed = 20

    /// Reads `--from`. Every form is told apart by its shape alone, so a typo is reported
    /// before anything connects.
    static func start(_ text: String) throws(ValidationError) -> TopicReplay.Start {
        let forms = "write earliest, PARTITION:OFFSET pairs such as 0:120,1:0, an ISO 8601 time such as 2026-11-21T10:00:00Z, or epoch milliseconds"
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "earliest" { return .earliest }
        if text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T.*/#) != nil {
            guard let milliseconds = Self.epochMilliseconds(iso8601: text) else {
                throw ValidationError("--from \(text) is not an ISO 8601 time; write it as 2026-11-21T10:00:00Z or 2026-11-21T11:00:00.5+01:00 (a real date, seconds, and Z or an offset)")
            }
            guard milliseconds >= 0 else {
                throw ValidationError("--from \(text) is before 1970; Kafka timestamps start at 1970-01-01T00:00:00Z, so use --from earliest")
            }
            return .timestamp(milliseconds: milliseconds)
        }
        if text.contains(":") {
            var offsets: [Int32: Int64] = [:]
            for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw ValidationError("--from \(text): \"\(pair)\" is not PARTITION:OFFSET; \(forms)")
                }
                guard let partition = Int32(parts[0]), partition >= 0 else {
                    throw ValidationError("--from \(text): partition \"\(parts[0])\" must be a number from 0; \(forms)")
                }
                guard let offset = Int64(parts[1]), offset >= 0 else {
                    throw ValidationError("--from \(text): offset \"\(parts[1])\" of partition \(partition) must be a number from 0; \(forms)")
                }
                guard offsets.updateValue(offset, forKey: partition) == nil else {
                    throw ValidationError("--from \(text): partition \(partition) is listed twice; give each partition one offset")
                }
            }
            return .offsets(offsets)
        }
        if let milliseconds = Int64(text) {
            // Seconds passed as milliseconds land in January 1970 and silently replay
            // everything; no real change to replay is that old.
            guard milliseconds >= 100_000_000_000 else {
                throw ValidationError("--from \(text) as epoch milliseconds is in 1970-1973; if it is seconds, multiply by 1000 (\(text)000)")
            }
            return .timestamp(milliseconds: milliseconds)
        }
        throw ValidationError("--from \(text) is not understood; \(forms)")
    }

    /// Foundation's ISO 8601 parser rolls impossible dates over (November 31 becomes
    /// December 1), which would start a replay somewhere the operator never named; this
    /// one refuses them.
    static func epochMilliseconds(iso8601 text: String) -> Int64? {
        // ASCII digits only: `\d` alone also matches other scripts' digits (full-width
        // "２０２６"), which Int64(_:) does not read.
        guard let match = text.wholeMatch(of: #/(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))/#.asciiOnlyDigits()) else {
            return nil
        }
        let (year, month, day) = (Int64(match.1)!, Int64(match.2)!, Int64(match.3)!)
        let (hour, minute, second) = (Int64(match.4)!, Int64(match.5)!, Int64(match.6)!)
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...monthDays[Int(month - 1)]).contains(day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var offsetMinutes: Int64 = 0
        if let sign = match.8, let offsetHours = match.9.flatMap({ Int64($0) }), let offsetMinute = match.10.flatMap({ Int64($0) }) {
            guard offsetHours < 24, offsetMinute < 60 else { return nil }
            offsetMinutes = (sign == "-" ? -1 : 1) * (offsetHours * 60 + offsetMinute)
        }
        // Days since 1970-01-01 in the proleptic Gregorian calendar, counted from March
        // so that February's length only matters at the end of a counted year.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
        let fraction = match.7.map { Int64(($0 + "00").prefix(3))! } ?? 0
        return seconds * 1_000 + fraction
    }

    /// Writes beside the target and renames over it: the rename is atomic, so a reader (or
    /// a run that dies half-way) never sees a partial file.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = "\(path).tmp"
        do {
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw OutputError(description: "--out \(path): cannot create \(temporary)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else {
                throw OutputError(description: "--out \(path): cannot rename \(temporary) to it: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}

/// The fold worked but its file could not be written: the environment's fault (a full
/// disk, permissions), not the call's, so exit 1, not 2.
private struct OutputError: Error, CustomStringConvertible {
    let description: String
}
