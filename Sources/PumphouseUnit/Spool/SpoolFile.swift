#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file or directory of the spool, on raw descriptors so every failure carries
/// the errno and path an operator needs, and so durability calls (fsync) are explicit.
struct SpoolFile: Sendable {
    let path: String
    private let descriptor: Int32

    /// - Parameter operation: what opening is for, as the error should name it.
    init(path: String, flags: Int32, operation: String) throws(SpoolError) {
        let descriptor = retryingInterrupts { open(path, flags | O_CLOEXEC, 0o644) }
        guard descriptor >= 0 else { throw .io(path: path, operation: operation, errno: errno) }
        self.path = path
        self.descriptor = descriptor
    }

    /// Writes all of `bytes`: write() may take less than asked (interrupted by a signal,
    /// or the disk filling up part way), and the rest must follow at once or the record
    /// would be torn.
    func writeAll(_ bytes: [UInt8]) throws(SpoolError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                retryingInterrupts { write(descriptor, buffer.baseAddress! + written, buffer.count - written) }
            }
            guard result >= 0 else { throw .io(path: path, operation: "write", errno: errno) }
            written += result
        }
    }

    /// Makes what was written durable against an OS crash or power loss.
    func sync() throws(SpoolError) {
        #if canImport(Darwin)
        // Darwin's fsync stops at the drive's volatile cache; F_FULLFSYNC flushes it.
        if fcntl(descriptor, F_FULLFSYNC) == 0 { return }
        #endif
        guard retryingInterrupts({ fsync(descriptor) }) == 0 else {
            throw .io(path: path, operation: "fsync", errno: errno)
        }
    }

    func truncate(to length: Int) throws(SpoolError) {
        guard retryingInterrupts({ ftruncate(descriptor, off_t(length)) }) == 0 else {
            throw .io(path: path, operation: "truncate", errno: errno)
        }
    }

    func readAll() throws(SpoolError) -> [UInt8] {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                retryingInterrupts { read(descriptor, buffer.baseAddress! + filled, buffer.count - filled) }
            }
            guard result >= 0 else { throw .io(path: path, operation: "read", errno: errno) }
            if result == 0 { break }
            filled += result
        }
        // Shorter than fstat said only if something else truncated it meanwhile.
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    /// Errors from close are not reported: every file whose contents matter was fsynced
    /// before, which is where a write error would have surfaced.
    func close() {
        #if canImport(Glibc)
        _ = Glibc.close(descriptor)
        #elseif canImport(Darwin)
        _ = Darwin.close(descriptor)
        #endif
    }
}

private func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
