/* The zlib adapter: CRC-32 (ISO-HDLC, as zlib and S3's CRC32 checksum compute it). */
#ifndef SLUICE_CORE_CRC_H
#define SLUICE_CORE_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32: crc is the previous result (0 to start). */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
