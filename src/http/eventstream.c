/* The event-stream message encoder (see eventstream.h). */
#include <string.h>

#include "core/crc.h"
#include "core/err.h"
#include "http/eventstream.h"

#define EVS_STRING 7

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int evs_message(struct buf *out, const struct evs_header *headers, size_t n_headers,
                const void *payload, size_t payload_len)
{
    size_t headers_len = 0;
    for (size_t i = 0; i < n_headers; i++) {
        size_t nlen = strlen(headers[i].name), vlen = strlen(headers[i].value);
        if (nlen == 0 || nlen > 255 || vlen > 65535) {
            return SL_E(INVALID_ARGUMENT);
        }
        headers_len += 1 + nlen + 1 + 2 + vlen;
    }
    size_t total = 12 + headers_len + payload_len + 4;
    if (total > UINT32_MAX) {
        return SL_E(INVALID_ARGUMENT);
    }
    size_t start = out->len;
    uint8_t *p = buf_reserve(out, total);
    if (p == NULL) {
        return buf_status(out);
    }
    put_be32(p, (uint32_t)total);
    put_be32(p + 4, (uint32_t)headers_len);
    put_be32(p + 8, crc32_update(0, p, 8));
    uint8_t *h = p + 12;
    for (size_t i = 0; i < n_headers; i++) {
        size_t nlen = strlen(headers[i].name), vlen = strlen(headers[i].value);
        *h++ = (uint8_t)nlen;
        memcpy(h, headers[i].name, nlen);
        h += nlen;
        *h++ = EVS_STRING;
        *h++ = (uint8_t)(vlen >> 8);
        *h++ = (uint8_t)vlen;
        memcpy(h, headers[i].value, vlen);
        h += vlen;
    }
    if (payload_len > 0) {
        memcpy(h, payload, payload_len);
    }
    h += payload_len;
    put_be32(h, crc32_update(0, p, total - 4));
    out->len = start + total;
    out->data[out->len] = '\0';
    return 0;
}

int evs_event(struct buf *out, const char *event_type, const char *content_type,
              const void *payload, size_t payload_len)
{
    struct evs_header h[] = {
        {":event-type", event_type}, {":content-type", content_type}, {":message-type", "event"}};
    return evs_message(out, h, 3, payload, payload_len);
}

int evs_exception(struct buf *out, const char *type, const char *content_type, const void *payload,
                  size_t payload_len)
{
    struct evs_header h[] = {
        {":exception-type", type}, {":content-type", content_type}, {":message-type", "exception"}};
    return evs_message(out, h, 3, payload, payload_len);
}
