import Foundation
import Logging
import PumphouseTestSupport
import Synchronization
import Testing
@testable import PumphouseUnit

@Suite("Durable spool")
struct SpoolTests {
    @Test("appended records come back in order after a reopen, in a directory created with its parents")
    func reopenRecoversInOrder() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let nested = directory.path + "/units/unit-1"
        let records = (1...50).map { testRecord($0) }

        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: nested), logger: quietLogger)
        #expect(spool.recovered.isEmpty)
        #expect(spool.highestSequence == 0)
        for record in records { try spool.append(record) }
        #expect(spool.highestSequence == 50)
        #expect(spool.pendingRecords == 50)
        #expect(spool.pendingBytes == 50 * testFrameSize)
        try await spool.close()

        let reopened = try DurableSpool(configuration: SpoolConfiguration(directory: nested), logger: quietLogger)
        #expect(reopened.recovered.map(\.record) == records)
        #expect(reopened.recovered.map(\.number) == Array(1...50))
        #expect(reopened.highestSequence == 50)
        #expect(reopened.pendingRecords == 50)
        #expect(reopened.pendingBytes == 50 * testFrameSize)
        try await reopened.close()
    }

    @Test("out-of-order acknowledgements advance a contiguous mark; wholly acknowledged segments are deleted")
    func acknowledgementsOutOfOrder() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        // Two records per segment: segments start at 1, 3, 5, 7 and 9.
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 2 * testFrameSize)
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for sequence in 1...10 { try spool.append(testRecord(sequence)) }
        try await spool.sync()
        #expect(directory.segmentFiles() == [1, 3, 5, 7, 9].map(segmentName))

        spool.acknowledge(3)
        #expect(spool.pendingRecords == 10)
        spool.acknowledge(1)
        #expect(spool.pendingRecords == 9)
        spool.acknowledge(2)
        #expect(spool.pendingRecords == 7)
        #expect(spool.pendingBytes == 7 * testFrameSize)
        spool.acknowledge(2)  // a repeat changes nothing
        spool.acknowledge(99)  // never appended: ignored
        #expect(spool.pendingRecords == 7)

        // sync() also waits for the deletions due before it: the mark (3) covers 1...2 only.
        try await spool.sync()
        #expect(directory.segmentFiles() == [3, 5, 7, 9].map(segmentName))

        spool.acknowledge(5)
        spool.acknowledge(4)
        try await spool.close()
        #expect(directory.segmentFiles() == [5, 7, 9].map(segmentName))

        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.map(\.record) == (6...10).map { testRecord($0) })
        #expect(reopened.highestSequence == 10)
        #expect(reopened.pendingRecords == 5)
        for sequence in [10, 9, 8, 7] as [Int64] { reopened.acknowledge(sequence) }
        #expect(reopened.pendingRecords == 5)
        reopened.acknowledge(6)
        #expect(reopened.pendingRecords == 0)
        #expect(reopened.pendingBytes == 0)
        try await reopened.close()
        #expect(directory.segmentFiles().isEmpty)
    }

    @Test("with every record acknowledged and every segment deleted, the highest sequence and the numbering survive a reopen")
    func highestSequenceSurvivesEmptySpool() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for sequence in 1...12 { try spool.append(testRecord(sequence)) }
        for number in 1...12 { spool.acknowledge(Int64(number)) }
        try await spool.close()
        #expect(directory.segmentFiles().isEmpty)
        #expect(directory.allFiles() == ["acknowledged"])

        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.isEmpty)
        #expect(reopened.highestSequence == 12)
        // A lower sequence is the caller's business (its partitions number apart); the
        // spool numbers the record after the last one it ever held.
        #expect(try reopened.append(testRecord(3)) == 13)
        #expect(reopened.highestSequence == 12)
        try await reopened.close()
        #expect(directory.segmentFiles() == [segmentName(13)])
    }

    @Test("a mark file from before records were numbered apart (the mark alone) still reads")
    func markFileWithoutHighestSequence() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data("40\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/acknowledged"))
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(spool.highestSequence == 40)
        #expect(try spool.append(testRecord(50)) == 41)
        try await spool.close()
        let text = try String(contentsOfFile: directory.path + "/acknowledged", encoding: .utf8)
        #expect(text == "40 50\n")
        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.highestSequence == 50)
        #expect(reopened.recovered.map(\.number) == [41])
        try await reopened.close()
    }

    @Test("record numbers beyond the pump's 2^48 from a damaged mark file or segment name are corruption, and the last number left is given once and then refused: never a trap")
    func numbersBeyondTheLimit() async throws {
        let limit = SpoolSegmentFormat.numberLimit
        #expect(limit == 1 << 48)
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let mark = directory.path + "/acknowledged"
        for text in ["\(limit) 0\n", "9223372036854775807 0\n"] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: mark))
            #expect(throws: SpoolError.self, "mark \(text)") { try DurableSpool(configuration: configuration, logger: quietLogger) }
        }
        try Data("\(limit - 2) 0\n".utf8).write(to: URL(fileURLWithPath: mark))
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(try spool.append(testRecord(1)) == limit - 1)
        #expect(appendError(spool, testRecord(2)) == .numbersExhausted(limit: limit))
        try await spool.close()
        directory.remove()

        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let name = directory.path + "/" + segmentName(limit)
        try Data().write(to: URL(fileURLWithPath: name))
        do {
            _ = try DurableSpool(configuration: configuration, logger: quietLogger)
            Issue.record("a segment named beyond the numbering opened")
        } catch {
            #expect(SpoolTestError(error) == .corrupt(path: name, offset: 0))
        }
    }

    @Test("a torn write at the end of the newest segment is truncated with a warning", arguments: TornTail.allCases)
    func tornTailIsTruncated(tail: TornTail) async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        let records = (1...5).map { testRecord($0) }
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for record in records { try spool.append(record) }
        try await spool.sync()
        try await spool.close()
        let segment = directory.path + "/" + segmentName(1)
        let intactSize = try fileSize(segment)
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: tail.bytes)
        try handle.close()

        let log = SpoolLogRecorder()
        let reopened = try DurableSpool(configuration: configuration, logger: log.logger)
        #expect(reopened.recovered.map(\.record) == records)
        #expect(reopened.highestSequence == 5)
        #expect(try fileSize(segment) == intactSize)
        #expect(log.messages(at: .warning).contains { $0.contains("torn write") && $0.contains(segment) && $0.contains("offset=\(intactSize)") })

        // The truncated spool takes new records after the old ones.
        #expect(try reopened.append(testRecord(6)) == 6)
        try await reopened.close()
        let again = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(again.recovered.map(\.record) == records + [testRecord(6)])
        try await again.close()
    }

    @Test("a damaged record in an older segment is corruption, named by file and offset")
    func corruptionInOlderSegment() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 2 * testFrameSize)
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for sequence in 1...6 { try spool.append(testRecord(sequence)) }
        try await spool.close()
        #expect(directory.segmentFiles() == [1, 3, 5].map(segmentName))

        let segment = directory.path + "/" + segmentName(3)
        try flipByte(in: segment, at: testFrameSize + 20)  // inside the body of record 4

        let error = try #require(throws: SpoolError.self) {
            _ = try DurableSpool(configuration: configuration, logger: quietLogger)
        }
        #expect(SpoolTestError(error) == .corrupt(path: segment, offset: Int64(testFrameSize)))
        #expect(error.description.contains(segment))
    }

    @Test("a damaged record with intact records after it is corruption even in the newest segment")
    func corruptionInsideNewestSegment() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for sequence in 1...5 { try spool.append(testRecord(sequence)) }
        try await spool.close()
        let segment = directory.path + "/" + segmentName(1)
        let sizeBefore = try fileSize(segment)
        try flipByte(in: segment, at: testFrameSize + 30)  // inside record 2 of 5

        let error = try #require(throws: SpoolError.self) {
            _ = try DurableSpool(configuration: configuration, logger: quietLogger)
        }
        #expect(SpoolTestError(error) == .corrupt(path: segment, offset: Int64(testFrameSize)))
        #expect(try fileSize(segment) == sizeBefore)  // nothing was truncated
    }

    @Test("append throws .full past maxPendingBytes, and acknowledgements make room again")
    func fullUntilAcknowledged() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let limit = 3 * testFrameSize
        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory.path, maxPendingBytes: limit), logger: quietLogger)
        for sequence in 1...3 { try spool.append(testRecord(sequence)) }

        let full = try #require(throws: SpoolError.self) { try spool.append(testRecord(4)) }
        #expect(SpoolTestError(full) == .full(pendingBytes: limit, limit: limit))
        #expect(full.description.contains("maxPendingBytes"))
        #expect(full.description.contains("\(limit)"))
        #expect(full.description.contains("the broker has been unreachable too long or the limit is too small"))
        #expect(spool.highestSequence == 3)  // the refused record left no trace

        spool.acknowledge(2)  // not contiguous yet: still full
        #expect(appendError(spool, testRecord(4)) == .full(pendingBytes: limit, limit: limit))
        spool.acknowledge(1)
        try spool.append(testRecord(4))
        #expect(spool.pendingBytes == 2 * testFrameSize)

        // A record larger than the whole limit can never fit.
        let huge = SpoolRecord(sequence: 5, topic: "t", key: [], value: [UInt8](repeating: 1, count: limit), headers: [])
        #expect(appendError(spool, huge) == .full(pendingBytes: 2 * testFrameSize, limit: limit))
        try await spool.close()
    }

    @Test("segments written before records were numbered apart (format version 1) recover, numbered by place")
    func versionOneSegmentsRecover() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let records = (8...10).map { testRecord($0) }
        // Version 1 had this layout with the sequence equal to the record's number.
        let segment = records.flatMap { record in
            var frame = SpoolSegmentFormat.encode(record)
            frame[8] = 1
            let checksum = frame.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[4...])) }
            withUnsafeBytes(of: checksum.littleEndian) { frame.replaceSubrange(0..<4, with: $0) }
            return frame
        }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data(segment).write(to: URL(fileURLWithPath: directory.path + "/" + segmentName(8)))
        try Data("7\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/acknowledged"))

        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory.path), logger: quietLogger)
        #expect(spool.recovered.map(\.number) == [8, 9, 10])
        #expect(spool.recovered.map(\.record) == records)
        #expect(spool.highestSequence == 10)
        #expect(try spool.append(testRecord(1)) == 11)
        try await spool.close()
    }

    @Test("records are numbered in append order whatever their sequences, and numbering goes on after a reopen")
    func numbersFollowAppendOrder() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path)
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        let sequences: [Int64] = [7, 3, 7, 1]
        for (index, sequence) in sequences.enumerated() {
            #expect(try spool.append(testRecord(sequence)) == Int64(index + 1))
        }
        #expect(spool.highestSequence == 7)
        spool.acknowledge(2)  // ahead of 1: the mark stays at 0
        try await spool.close()

        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.map(\.number) == [1, 2, 3, 4])
        #expect(reopened.recovered.map(\.record.sequence) == sequences)
        #expect(reopened.highestSequence == 7)
        #expect(try reopened.append(testRecord(2)) == 5)
        try await reopened.close()
    }

    @Test("after close, appends throw .closed while sync and close return")
    func closedSpool() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let spool = try DurableSpool(configuration: SpoolConfiguration(directory: directory.path), logger: quietLogger)
        try spool.append(testRecord(1))
        try await spool.close()
        #expect(appendError(spool, testRecord(2)) == .closed)
        try await spool.sync()
        try await spool.close()
        #expect(spool.highestSequence == 1)
    }

    @Test("commits share one fsync per fsync interval, a written record is fsynced when that is due with nothing appended after it, and sync() fsyncs at once")
    func fsyncCadence() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        // An interval no test machine's pause reaches, so "not yet due" holds however
        // slowly the paced commits run.
        let configuration = SpoolConfiguration(directory: directory.path, syncInterval: .milliseconds(1), fsyncInterval: .seconds(120))
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        // Paced, so that the records go in commits of their own.
        for sequence in 1...20 {
            try spool.append(testRecord(Int64(sequence)))
            try await Task.sleep(for: .milliseconds(3))
        }
        #expect(spool.fsyncCount == 0, "20 commits within the interval share its one fsync, not yet due")
        try await spool.sync()
        #expect(spool.fsyncCount == 1, "sync() fsyncs what was appended before it at once")
        try await spool.close()
        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.map(\.record.sequence) == Array(1...20))
        try await reopened.close()

        // A short interval: a written record with nothing appended after it is fsynced
        // once that is due, without a sync() or another commit to carry it.
        let other = SpoolTestDirectory()
        defer { other.remove() }
        let due = try DurableSpool(
            configuration: SpoolConfiguration(directory: other.path, syncInterval: .milliseconds(1), fsyncInterval: .milliseconds(200)), logger: quietLogger
        )
        try due.append(testRecord(1))
        let deadline = ContinuousClock.now + .seconds(15)
        while due.fsyncCount == 0 {
            try #require(ContinuousClock.now < deadline, "the written record was not fsynced 15 s after its fsync was due (200 ms)")
            try await Task.sleep(for: .milliseconds(20))
        }
        try await due.close()
    }

    @Test("a restart after kill -9 (no close) recovers every synced record")
    func restartWithoutClose() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 3 * testFrameSize)
        let killed = try DurableSpool(configuration: configuration, logger: quietLogger)
        let records = (1...20).map { testRecord($0) }
        for record in records { try killed.append(record) }
        try await killed.sync()

        // The first instance is left running, as if killed: nothing of close() happened.
        let restarted = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(restarted.recovered.map(\.record) == records)
        #expect(restarted.highestSequence == 20)
        try await restarted.close()
        try await killed.close()
    }

    @Test("a restart after kill -9 resends only what the persisted mark does not cover")
    func restartWithoutCloseAfterAcknowledgements() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 2 * testFrameSize)
        let killed = try DurableSpool(configuration: configuration, logger: quietLogger)
        for sequence in 1...10 { try killed.append(testRecord(sequence)) }
        for sequence in [4, 2, 5, 3, 1] as [Int64] { killed.acknowledge(sequence) }
        try killed.append(testRecord(11))
        // Deleting segments 1 and 3 persisted the mark (5) first; segment 5 stays.
        try await killed.sync()
        #expect(directory.segmentFiles() == [5, 7, 9, 11].map(segmentName))

        let restarted = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(restarted.recovered.map(\.record) == (6...11).map { testRecord($0) })
        #expect(restarted.highestSequence == 11)
        try await restarted.close()
        try await killed.close()
    }

    @Test("empty keys and values, a 1 MiB value, unicode topics and many headers round-trip")
    func unusualRecordsRoundTrip() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 64 << 10)
        let manyHeaders = (0..<200).map { index in
            SpoolHeader(name: index.isMultiple(of: 7) ? "" : "h-\(index)-ünïcødé-🚰", value: index.isMultiple(of: 5) ? [] : [UInt8(index % 256), 0, 255])
        }
        let records = [
            SpoolRecord(sequence: 1, topic: "orders", key: [], value: [], headers: []),
            SpoolRecord(sequence: 2, topic: "zahlungen.überweisung.日本語.🚰", key: Array("κλειδί".utf8), value: [0, 1, 2], headers: []),
            SpoolRecord(sequence: 3, topic: "big", key: [1], value: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }, headers: [SpoolHeader(name: "origin", value: Array("unit-1".utf8))]),
            SpoolRecord(sequence: 4, topic: "", key: [0, 0, 0], value: [], headers: manyHeaders),
            SpoolRecord(sequence: 5, topic: "after.big", key: [], value: [42], headers: manyHeaders.reversed()),
        ]
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        for record in records { try spool.append(record) }
        #expect(spool.pendingBytes == records.map(SpoolSegmentFormat.frameSize).reduce(0, +))
        try await spool.close()

        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.map(\.record) == records)
        try await reopened.close()
    }

    @Test("appends and out-of-order acknowledgements from concurrent tasks leave nothing behind")
    func concurrentAppendsAndAcknowledgements() async throws {
        let directory = SpoolTestDirectory()
        defer { directory.remove() }
        let count: Int64 = 3000
        let configuration = SpoolConfiguration(directory: directory.path, segmentBytes: 1 << 10, syncInterval: .microseconds(200))
        let spool = try DurableSpool(configuration: configuration, logger: quietLogger)
        let (appended, continuation) = AsyncStream.makeStream(of: Int64.self)
        let appender = Task {
            defer { continuation.finish() }
            for sequence in 1...count {
                try spool.append(testRecord(sequence))
                continuation.yield(sequence)
            }
        }
        // Acknowledge in reversed groups of up to 7, like partitions confirming at their own pace.
        var group: [Int64] = []
        for await sequence in appended {
            group.append(sequence)
            if group.count == 7 {
                group.reversed().forEach(spool.acknowledge)
                group = []
            }
        }
        group.reversed().forEach(spool.acknowledge)
        try await appender.value
        #expect(spool.pendingRecords == 0)
        try await spool.close()
        #expect(directory.segmentFiles().isEmpty)

        let reopened = try DurableSpool(configuration: configuration, logger: quietLogger)
        #expect(reopened.recovered.isEmpty)
        #expect(reopened.highestSequence == count)
        try await reopened.close()
    }
}

// MARK: - Helpers

extension SpoolTests {
    /// What a crash can leave after the last intact record.
    enum TornTail: CaseIterable {
        case partialRecord
        case headerOnly
        case garbage
        /// A file extended by the crash without its data written.
        case zeros

        var bytes: [UInt8] {
            switch self {
            case .partialRecord: Array(SpoolSegmentFormat.encode(testRecord(6)).prefix(23))
            case .headerOnly: Array(SpoolSegmentFormat.encode(testRecord(6)).prefix(8))
            case .garbage: (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            case .zeros: [UInt8](repeating: 0, count: 4096)
            }
        }
    }
}

/// Every test record has the same encoded size, so segment sizes can be set in records.
private func testRecord(_ sequence: some BinaryInteger) -> SpoolRecord {
    let sequence = Int64(sequence)
    return SpoolRecord(
        sequence: sequence,
        topic: "orders",
        key: withUnsafeBytes(of: sequence.bigEndian) { Array($0) },
        value: (0..<16).map { UInt8(truncatingIfNeeded: Int(sequence) &+ $0) },
        headers: []
    )
}

private let testFrameSize = SpoolSegmentFormat.frameSize(of: testRecord(1))

private func segmentName(_ firstSequence: Int64) -> String {
    SpoolSegmentFormat.segmentName(firstNumber: firstSequence)
}

let quietLogger = Logger(label: "spool-test") { _ in SwiftLogNoOpLogHandler() }

private func fileSize(_ path: String) throws -> Int {
    try Data(contentsOf: URL(fileURLWithPath: path)).count
}

private func flipByte(in path: String, at offset: Int) throws {
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[offset] ^= 0x5A
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// A fresh directory per test, so tests can run in parallel.
struct SpoolTestDirectory {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path

    func allFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func segmentFiles() -> [String] {
        allFiles().filter { $0.hasSuffix(".spool") }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// SpoolError reduced to what the tests compare (SpoolError is not Equatable; its errno
/// and reasons are for people).
private enum SpoolTestError: Equatable {
    case full(pendingBytes: Int, limit: Int)
    case io(path: String, operation: String)
    case corrupt(path: String, offset: Int64)
    case closed
    case numbersExhausted(limit: Int64)

    init(_ error: SpoolError) {
        switch error {
        case .full(let pendingBytes, let limit): self = .full(pendingBytes: pendingBytes, limit: limit)
        case .io(let path, let operation, _): self = .io(path: path, operation: operation)
        case .corrupt(let path, let offset, _): self = .corrupt(path: path, offset: offset)
        case .closed: self = .closed
        case .numbersExhausted(let limit): self = .numbersExhausted(limit: limit)
        }
    }

}

/// The error appending `record` threw, or nil.
private func appendError(_ spool: DurableSpool, _ record: SpoolRecord) -> SpoolTestError? {
    do {
        try spool.append(record)
        return nil
    } catch {
        return SpoolTestError(error)
    }
}

/// Keeps what the spool logs, to check that a truncation is never silent.
private final class SpoolLogRecorder: Sendable {
    private let entries = Mutex<[(level: Logger.Level, text: String)]>([])

    var logger: Logger {
        Logger(label: "spool-test") { _ in
            RecordingLogHandler { event in
                let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                let text = ([event.message.description] + fields).joined(separator: " ")
                self.entries.withLock { $0.append((event.level, text)) }
            }
        }
    }

    func messages(at level: Logger.Level) -> [String] {
        entries.withLock { $0.filter { $0.level == level }.map(\.text) }
    }
}

@Suite("Spool frames")
struct SpoolFrameTests {
    @Test("a change's frame from its encoded parts is byte for byte the record's, and sends the record's key, value and headers", arguments: [
        ("acc-1", [UInt8]("{\"id\":\"acc-1\"}".utf8), [("pumphouse-contract", "bench.Account"), ("pumphouse-sequence", "42")]),
        ("", [], []),
        ("caf\u{E9}/\u{212B}", [UInt8](repeating: 0xFF, count: 70_000), (0..<20).map { ("h\($0)", String(repeating: "v", count: $0)) }),
    ] as [(String, [UInt8], [(String, String)])])
    func partsMatchRecord(key: String, value: [UInt8], headers: [(String, String)]) {
        let record = SpoolRecord(
            sequence: 7, topic: "pumphouse.bench.account", key: Array(key.utf8), value: value,
            headers: headers.map { SpoolHeader(name: $0.0, value: Array($0.1.utf8)) }
        )
        let frame = SpoolFrame(sequence: 7, topic: "pumphouse.bench.account", key: key, value: value, headers: headers.map { (name: $0.0, value: $0.1) })
        #expect(frame == SpoolFrame(record))
        #expect(frame.bytes.count == SpoolSegmentFormat.frameSize(of: record))
        #expect(frame.sequence == 7)
        frame.withMessage { message in
            #expect(Array(message.key) == Array(key.utf8))
            #expect(Array(message.value) == value)
            var seen: [SpoolHeader] = []
            message.forEachHeader { name, value in seen.append(SpoolHeader(name: String(decoding: name, as: UTF8.self), value: Array(value))) }
            #expect(seen == record.headers)
        }
        // And it reads back as the record from a segment.
        let scan = SpoolSegmentFormat.scan(frame.bytes, firstNumber: 1)
        #expect(scan.damage == nil && scan.records.map(\.record) == [record])
    }
}
