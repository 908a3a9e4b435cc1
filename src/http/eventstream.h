/*
 * The AWS event-stream message format (application/vnd.amazon.eventstream), which
 * streaming responses such as SubscribeToShard's are made of:
 *
 *   total length (4, big-endian) | headers length (4) | prelude CRC (4, of the 8 before)
 *   headers: name length (1) | name | type (1, 7 = string) | value length (2) | value
 *   payload | message CRC (4, of everything before it)
 *
 * The CRCs are CRC-32 (ISO-HDLC), as zlib computes it.
 */
#ifndef SLUICE_HTTP_EVENTSTREAM_H
#define SLUICE_HTTP_EVENTSTREAM_H

#include <stddef.h>

#include "core/buf.h"

struct evs_header {
    const char *name;  /* at most 255 bytes */
    const char *value; /* a string, at most 65535 bytes */
};

/* Appends one message to out. Returns 0, or SL_E(INVALID_ARGUMENT) for a name or
   value too long (nothing appended), or out's error. */
int evs_message(struct buf *out, const struct evs_header *headers, size_t n_headers,
                const void *payload, size_t payload_len);
/* An event: :event-type event_type, :content-type content_type, :message-type event. */
int evs_event(struct buf *out, const char *event_type, const char *content_type,
              const void *payload, size_t payload_len);
/* A modelled exception: :exception-type type, :content-type, :message-type exception. */
int evs_exception(struct buf *out, const char *type, const char *content_type, const void *payload,
                  size_t payload_len);

#endif
