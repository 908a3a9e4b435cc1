/*
 * Fuzz target for the IAM policy document checker (iam/iam_policydoc.c), which reads
 * every policy a client stores and AssumeRole's session Policy before its packed size
 * is counted: the first byte picks the kind of document (user, group, role, managed,
 * trust, session), the rest is the document. A refusal always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iam/iam_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    char *doc = malloc(size);
    memcpy(doc, data + 1, size - 1);
    doc[size - 1] = '\0';
    struct err_info err;
    err_clear(&err);
    int rc = iam__policydoc_check(doc, (enum iam_doc_kind)(data[0] % 6), &err);
    if (rc != 0 && (rc != err.code || err.message[0] == '\0')) {
        __builtin_trap();
    }
    free(doc);
    return 0;
}
