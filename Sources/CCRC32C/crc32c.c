#include "pumphouse_crc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

int pumphouse_crc32c_hardware(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

// Compiled for SSE 4.2 whatever the target's baseline, and called only where the CPU
// has it. Eight bytes per instruction; loads are unaligned (a record starts wherever
// the previous one ended), which memcpy compiles to a plain load.
__attribute__((target("sse4.2")))
uint32_t pumphouse_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *next = bytes;
    uint64_t wide = crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, next, sizeof word);
        wide = __builtin_ia32_crc32di(wide, word);
        next += 8;
        count -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    while (count > 0) {
        narrow = __builtin_ia32_crc32qi(narrow, *next);
        next += 1;
        count -= 1;
    }
    return narrow;
}

#else

int pumphouse_crc32c_hardware(void) { return 0; }

uint32_t pumphouse_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    (void)bytes;
    (void)count;
    return crc;
}

#endif
