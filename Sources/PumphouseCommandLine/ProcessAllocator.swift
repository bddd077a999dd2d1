#if os(Linux)
import CMalloc
import Glibc
#endif

/// A data writer builds each batch on one thread of the pool and frees it on another.
/// Under jemalloc's several arenas (eight on two cores) the freed batch's pages wait in
/// an arena the next batch's thread may not allocate from, so the writer's peak grew
/// with the length of the drain (282 MiB at 1M contracts, 313 at 5M); on one arena it
/// stayed at 204-220 MiB at a like rate (docs/writers.md). jemalloc takes its number of
/// arenas only when it starts, from `MALLOC_CONF`, so a process that wants one arena
/// starts itself again with it.
package enum ProcessAllocator {
    /// Replaces this process (same pid, arguments and environment) with itself on one
    /// jemalloc arena, unless the operator set `MALLOC_CONF` (their choice stands),
    /// jemalloc does not serve malloc, or it already runs on one arena. Call it first,
    /// before the process opens anything: nothing survives the replacement but the
    /// environment and open descriptors. Returns why it could not restart, if it tried
    /// and failed; the process then carries on with the arenas it has. Elsewhere than
    /// Linux the executables do not link jemalloc, and this does nothing.
    package static func restartOnOneArena() -> String? {
        #if os(Linux)
        guard ProcessEnvironment()["MALLOC_CONF"] == nil, pumphouse_allocator_arenas() > 1 else {
            return nil
        }
        setenv("MALLOC_CONF", "narenas:1", 1)
        var arguments: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
        arguments.append(nil)
        execv("/proc/self/exe", arguments)
        // Only reached when execv failed.
        let reason = String(cString: strerror(errno))
        unsetenv("MALLOC_CONF")
        arguments.forEach { free($0) }
        return "could not restart on one allocator arena (\(reason)); running on jemalloc's default arenas, whose peak memory grows with a long drain"
        #else
        return nil
        #endif
    }
}
