#ifndef PUMPHOUSE_CMALLOC_SHIM_H
#define PUMPHOUSE_CMALLOC_SHIM_H
// glibc's allocator controls (malloc_trim), which the Glibc module does not export.
#if defined(__linux__)
#include <malloc.h>
#endif
#endif
