#include "core/crc.h"

#include <limits.h>
#include <zlib.h>

uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
    const Bytef *p = data;
    /* zlib takes uInt lengths: feed anything larger in pieces. */
    while (len > UINT_MAX) {
        crc = (uint32_t)crc32(crc, p, UINT_MAX);
        p += UINT_MAX;
        len -= UINT_MAX;
    }
    return (uint32_t)crc32(crc, p, (uInt)len);
}
