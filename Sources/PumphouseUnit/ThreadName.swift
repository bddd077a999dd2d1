import Foundation

/// Names the calling thread for `top -H`, perf and per-thread CPU splits. On Linux it
/// writes the kernel's own record of the name (`/proc/thread-self/comm`): Foundation's
/// `Thread.current.name`, set from inside a new thread, left the name unset in about
/// one start in three here, and Swift's Glibc module has no `pthread_setname_np`. Linux
/// keeps at most 15 bytes.
func nameCurrentThread(_ name: String) {
    precondition(name.utf8.count <= 15, "thread name \(name) is longer than the 15 bytes Linux keeps")
    #if os(Linux)
    let file = open("/proc/thread-self/comm", O_WRONLY)
    guard file >= 0 else { return }
    defer { close(file) }
    _ = name.utf8CString.withUnsafeBufferPointer { write(file, $0.baseAddress, name.utf8.count) }
    #else
    Thread.current.name = name
    #endif
}
