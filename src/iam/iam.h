/*
 * Identities: the root credentials now, IAM users, roles and policies later.
 *
 * Root credentials come from SLUICE_ROOT_ACCESS_KEY_ID / SLUICE_ROOT_SECRET_ACCESS_KEY
 * when both are set; otherwise they are read from DIR/root-credentials, which is
 * generated (mode 0600) and printed once on first start.
 */
#ifndef SLUICE_IAM_IAM_H
#define SLUICE_IAM_IAM_H

#include <stddef.h>

#include "core/config.h"
#include "core/store.h"

struct iam;

/* Returns 0, or a negative code when the credentials file cannot be read or written. */
int iam_open(struct store *st, const struct sluice_config *cfg, struct iam **out);
void iam_close(struct iam *iam);

/*
 * The http_key_lookup_fn of the front end: fills the secret and account of a known
 * access key, else returns SL_E(AUTH_UNKNOWN_KEY). arg is the struct iam.
 */
int iam_key_lookup(void *arg, const char *access_key_id, char *secret_out, size_t secret_size,
                   char *account_out, size_t account_size);

const char *iam_root_access_key_id(const struct iam *iam);

#endif
