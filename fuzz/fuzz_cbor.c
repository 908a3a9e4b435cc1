/*
 * Fuzzes the CBOR decoder (core/cbor.c), which reads Kinesis request bodies from any
 * client, and the encoder on what it decodes: a decoded value encodes, and that
 * encoding decodes to the same value, and its JSON text reads back as the same text.
 * The same bytes are also read and written as CloudWatch's RPC v2 CBOR (tag 1 epochs
 * in seconds, its timestamp members). Any crash, leak, sanitizer report or failed round
 * trip is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cbor.h"

/* CloudWatch's RPC v2 shape: tag 1 in seconds on the way in, its timestamp members
   (arrays of them too) written back as tag 1: what it writes must read back. */
static void cloudwatch_round_trip(const uint8_t *data, size_t size)
{
    json_t *v;
    struct err_info err;
    struct cbor_decode_opts opts = {.epoch_scale = 1.0};
    if (cbor_decode(data, size, &opts, &v, &err) != 0) {
        return;
    }
    static const char *const epochs[] = {"Timestamp", "Timestamps", "StateUpdatedTimestamp", NULL};
    struct cbor_encode_opts eopts = {.epoch_members = epochs, .epoch_scale = 1.0};
    struct buf b;
    buf_init(&b);
    if (cbor_encode(v, &eopts, &b) == 0) {
        json_t *back;
        if (cbor_decode(b.data, b.len, &opts, &back, &err) != 0) {
            abort();
        }
        json_decref(back);
    }
    buf_fini(&b);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v;
    struct err_info err;
    cloudwatch_round_trip(data, size);
    struct cbor_decode_opts opts = {.epoch_scale = 0.001};
    if (cbor_decode(data, size, &opts, &v, &err) != 0) {
        return 0;
    }
    static const char *const blobs[] = {"Data", NULL};
    static const char *const epochs[] = {"ApproximateArrivalTimestamp", NULL};
    struct cbor_encode_opts eopts = {
        .blob_members = blobs, .epoch_members = epochs, .epoch_scale = 1000.0};
    struct buf b, again;
    buf_init(&b);
    buf_init(&again);
    cbor_encode(v, &eopts, &b);
    /* Without the member lists, byte strings and tags come back as the text and numbers
       they were decoded to: the encoding of the decoded encoding is the same bytes
       (compared as bytes, as json_equal cannot see keys with a NUL in them). */
    buf_reset(&b);
    if (cbor_encode(v, NULL, &b) == 0) {
        json_t *back;
        if (cbor_decode(b.data, b.len, NULL, &back, &err) != 0) {
            abort();
        }
        if (cbor_encode(back, NULL, &again) == 0 &&
            (again.len != b.len || memcmp(again.data, b.data, b.len) != 0)) {
            abort();
        }
        json_decref(back);
    }
    /* The JSON text jansson reads back writes the same text again. */
    buf_reset(&b);
    buf_reset(&again);
    if (cbor_json_text(v, &b) == 0) {
        json_error_t jerr;
        json_t *back =
            json_loadb((const char *)b.data, b.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
        /* jansson refuses \u0000 in a key (values take it), so such text may not read */
        if (back == NULL && strstr((const char *)b.data, "\\u0000") == NULL) {
            abort();
        }
        if (back != NULL && cbor_json_text(back, &again) == 0 &&
            (again.len != b.len || memcmp(again.data, b.data, b.len) != 0)) {
            abort();
        }
        json_decref(back);
    }
    buf_fini(&again);
    buf_fini(&b);
    json_decref(v);
    return 0;
}
