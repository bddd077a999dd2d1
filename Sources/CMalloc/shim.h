#ifndef PUMPHOUSE_CMALLOC_SHIM_H
#define PUMPHOUSE_CMALLOC_SHIM_H
// The allocator's controls, which the Glibc module does not export.
#if defined(__linux__)
#include <dlfcn.h>
#include <malloc.h>
#include <stddef.h>

// Gives the memory the process has freed back to the system, whichever allocator serves
// malloc: jemalloc (which Pumphouse's executables link) keeps freed pages for seconds and
// purges them when asked through mallctl; glibc's keeps them until malloc_trim. Looked up
// at run time, so a service that links Pumphouse's libraries with glibc's allocator needs
// no jemalloc.
static inline void pumphouse_return_freed_memory(void) {
    typedef int (*pumphouse_mallctl)(const char *, void *, size_t *, void *, size_t);
    // A null handle is glibc's RTLD_DEFAULT: the symbol as the process resolves it.
    pumphouse_mallctl mallctl = (pumphouse_mallctl)dlsym((void *)0, "mallctl");
    if (mallctl != NULL) {
        // Arena 4096 is MALLCTL_ARENAS_ALL: every arena.
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
    }
    malloc_trim(0);
}
#endif
#endif
