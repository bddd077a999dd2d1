#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The spool's directory and the files in it.
///
/// Creating, renaming or deleting a file changes the directory, not the file, so those
/// changes survive an OS crash only once the directory itself is fsynced; this type keeps
/// the directory open for that and does it wherever a change must not be lost.
struct SpoolDirectory: Sendable {
    let path: String
    private let handle: SpoolFile

    private static let acknowledgedName = "acknowledged"
    /// The acknowledged mark is written here first and renamed over the real file, so a
    /// crash leaves either the old mark or the new one, never half of one.
    private static let acknowledgedTemporaryName = "acknowledged.tmp"

    init(creatingIfMissing path: String) throws(SpoolError) {
        let path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        try Self.createWithParents(path)
        self.handle = try SpoolFile(path: path, flags: O_RDONLY | O_DIRECTORY, operation: "open directory")
        self.path = path
    }

    func filePath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    func segmentPath(_ firstNumber: Int64) -> String {
        filePath(SpoolSegmentFormat.segmentName(firstNumber: firstNumber))
    }

    /// The first record numbers of the segment files present, oldest first. Other files are
    /// left alone: an operator may have moved a damaged segment aside under another name.
    func segmentNumbers() throws(SpoolError) -> [Int64] {
        guard let stream = opendir(path) else { throw .io(path: path, operation: "list directory", errno: errno) }
        defer { closedir(stream) }
        var numbers: [Int64] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw .io(path: path, operation: "list directory", errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let number = SpoolSegmentFormat.firstNumber(ofSegmentNamed: name) {
                guard number < SpoolSegmentFormat.numberLimit else {
                    throw .corrupt(path: filePath(name), offset: 0, reason: "its name numbers its first record \(number), beyond the spool's numbering (below \(SpoolSegmentFormat.numberLimit))")
                }
                numbers.append(number)
            }
        }
        return numbers.sorted()
    }

    func readSegment(_ firstNumber: Int64) throws(SpoolError) -> [UInt8] {
        let file = try SpoolFile(path: segmentPath(firstNumber), flags: O_RDONLY, operation: "open segment")
        defer { file.close() }
        return try file.readAll()
    }

    /// Makes a segment's bytes durable. Recovery does it for what it keeps: it read them
    /// from the page cache, and a segment the crashed run had not fsynced yet would
    /// otherwise stay so while this run creates the segments after it, against the
    /// rule that only the newest segment can be torn.
    func syncSegment(_ firstNumber: Int64) throws(SpoolError) {
        let file = try SpoolFile(path: segmentPath(firstNumber), flags: O_RDONLY, operation: "open segment")
        defer { file.close() }
        try file.sync()
    }

    func truncateSegment(_ firstNumber: Int64, to length: Int) throws(SpoolError) {
        let file = try SpoolFile(path: segmentPath(firstNumber), flags: O_WRONLY, operation: "open segment")
        defer { file.close() }
        try file.truncate(to: length)
        try file.sync()
    }

    /// A new, empty segment for appending, whose name is durable before any record is.
    /// It must not exist yet: an existing file of that name would mean two segments
    /// claiming the same record.
    func createSegment(_ firstNumber: Int64) throws(SpoolError) -> SpoolFile {
        let file = try SpoolFile(
            path: segmentPath(firstNumber),
            flags: O_WRONLY | O_CREAT | O_EXCL | O_APPEND,
            operation: "create segment"
        )
        do {
            try sync()
        } catch {
            file.close()
            throw error
        }
        return file
    }

    /// Deleting needs no fsync of the directory: a segment an OS crash brings back holds
    /// only records at or below the acknowledged mark, which recovery skips and deletes.
    func removeSegment(_ firstNumber: Int64) throws(SpoolError) {
        try remove(segmentPath(firstNumber), operation: "delete segment")
    }

    /// The contiguous acknowledged mark last persisted, and the highest change sequence
    /// spooled when it was; zeros when none was. A file from before change sequences
    /// were numbered apart from records holds the mark alone, which was both.
    func readAcknowledged() throws(SpoolError) -> (mark: Int64, highestSequence: Int64) {
        let filePath = filePath(Self.acknowledgedName)
        let file: SpoolFile
        do {
            file = try SpoolFile(path: filePath, flags: O_RDONLY, operation: "open")
        } catch .io(_, _, ENOENT) {
            return (0, 0)
        }
        defer { file.close() }
        let text = String(decoding: try file.readAll(), as: UTF8.self)
        let numbers = (text.hasSuffix("\n") ? text.dropLast() : Substring(text)).split(separator: " ", omittingEmptySubsequences: false).map { Int64($0) }
        guard (1...2).contains(numbers.count), let mark = numbers[0], (0..<SpoolSegmentFormat.numberLimit).contains(mark), let highest = numbers.last ?? nil, highest >= 0 else {
            throw .corrupt(path: filePath, offset: 0, reason: "expected an acknowledged record number and the highest sequence, found \"\(text.prefix(40))\"")
        }
        return (mark, highest)
    }

    func writeAcknowledged(_ mark: Int64, highestSequence: Int64) throws(SpoolError) {
        let temporaryPath = filePath(Self.acknowledgedTemporaryName)
        let file = try SpoolFile(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC, operation: "create")
        defer { file.close() }
        try file.writeAll(Array("\(mark) \(highestSequence)\n".utf8))
        try file.sync()
        let finalPath = filePath(Self.acknowledgedName)
        guard rename(temporaryPath, finalPath) == 0 else {
            throw .io(path: finalPath, operation: "rename \(temporaryPath) to", errno: errno)
        }
        try sync()
    }

    /// A temporary mark left by a crash before its rename; the real file is still valid.
    func removeInterruptedWrites() throws(SpoolError) {
        try remove(filePath(Self.acknowledgedTemporaryName), operation: "delete")
    }

    func sync() throws(SpoolError) {
        try handle.sync()
    }

    func close() {
        handle.close()
    }

    private func remove(_ path: String, operation: String) throws(SpoolError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .io(path: path, operation: operation, errno: errno)
        }
    }

    /// `mkdir -p`: a unit's first start on a fresh volume should not need a setup step.
    private static func createWithParents(_ path: String) throws(SpoolError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += prefix.isEmpty || prefix.hasSuffix("/") ? String(component) : "/" + component
            guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
                throw .io(path: prefix, operation: "create directory", errno: errno)
            }
        }
    }
}
