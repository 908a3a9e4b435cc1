/*
 * Fuzz target for the strict XML reader of S3 request bodies (DeleteObjects,
 * CompleteMultipartUpload, Tagging, CreateBucketConfiguration): parses the input and,
 * when it parses, walks the tree the way the adapter does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lake/s3_int.h"

static size_t walk(const struct s3_xml_node *n, int depth)
{
    size_t count = 1 + strlen(n->text) + strlen(n->name);
    if (strlen(n->text) != n->text_len) {
        __builtin_trap(); /* text_len describes text, which never holds a NUL */
    }
    for (size_t i = 0; i < n->n_children; i++) {
        count += walk(&n->children[i], depth + 1);
    }
    (void)s3__xml_child_text(n, "Key");
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_parse((const char *)data, size, &root);
    if (rc == 0) {
        (void)walk(root, 0);
        s3__xml_free(root);
    } else if (root != NULL || (rc != -1 && rc != SL_E(NOMEM))) {
        __builtin_trap(); /* a failed parse returns nothing, and says why */
    }
    return 0;
}
