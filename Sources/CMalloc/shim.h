#ifndef PUMPHOUSE_CMALLOC_SHIM_H
#define PUMPHOUSE_CMALLOC_SHIM_H
// The allocator's controls, which the Glibc module does not export.
#if defined(__linux__)
#include <dlfcn.h>
#include <malloc.h>
#include <stddef.h>

typedef int (*pumphouse_mallctl)(const char *, void *, size_t *, void *, size_t);

// jemalloc's control, or NULL where jemalloc does not serve malloc. A null handle is
// glibc's RTLD_DEFAULT: the symbol as the process resolves it.
static inline pumphouse_mallctl pumphouse_find_mallctl(void) {
    return (pumphouse_mallctl)dlsym((void *)0, "mallctl");
}

// Gives the memory the process has freed back to the system, whichever allocator serves
// malloc: jemalloc (which Pumphouse's executables link) keeps freed pages for seconds and
// purges them when asked through mallctl; glibc's keeps them until malloc_trim. Looked up
// at run time, so a service that links Pumphouse's libraries with glibc's allocator needs
// no jemalloc.
//
// Never both: where jemalloc serves malloc, glibc's allocator holds nothing and
// malloc_trim only wakes it (it sets glibc's allocator up on first use). It was the only
// call Pumphouse made into glibc's allocator under jemalloc when CI's smoke run of
// the units' benchmark (three units in one process) aborted once in glibc's arena
// bookkeeping at a thread's exit ("malloc assertion failure in
// __malloc_arena_thread_freeres: a->attached_threads > 0"); the cause is not established.
static inline void pumphouse_return_freed_memory(void) {
    pumphouse_mallctl mallctl = pumphouse_find_mallctl();
    if (mallctl != NULL) {
        // Arena 4096 is MALLCTL_ARENAS_ALL: every arena.
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
    } else {
        malloc_trim(0);
    }
}

// How many arenas jemalloc serves malloc from (`opt.narenas`, fixed when it starts), or
// 0 where jemalloc does not serve malloc.
static inline unsigned pumphouse_allocator_arenas(void) {
    pumphouse_mallctl mallctl = pumphouse_find_mallctl();
    unsigned arenas = 0;
    size_t length = sizeof(arenas);
    if (mallctl == NULL || mallctl("opt.narenas", &arenas, &length, NULL, 0) != 0) {
        return 0;
    }
    return arenas;
}
#endif
#endif
