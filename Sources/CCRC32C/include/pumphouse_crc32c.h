#ifndef PUMPHOUSE_CRC32C_H
#define PUMPHOUSE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

// CRC-32C with the CPU's own instruction, for the spool's checksums: SSE 4.2's crc32 on
// x86-64. Elsewhere there is none here, and PumphouseUnit's portable code computes it.

// Whether pumphouse_crc32c_update may be called on this CPU (nonzero: it may).
int pumphouse_crc32c_hardware(void);

// Carries the reflected CRC-32C register `crc` over `count` bytes, neither inverting it
// first nor after (the caller does, as the CRC's definition wants). Only where
// pumphouse_crc32c_hardware says so: elsewhere it returns `crc` unchanged.
uint32_t pumphouse_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif
