#include "iam/iam.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

struct iam {
    char root_key_id[64];
    char root_secret[128];
    char account_id[16];
};

static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t n_alpha = strlen(alphabet);
    uint8_t r[128];
    crypto_random(r, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = alphabet[r[i] % n_alpha];
    }
    out[n] = '\0';
}

static int read_credentials(const char *path, struct iam *iam)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        if (strcmp(line, "aws_access_key_id") == 0) {
            snprintf(iam->root_key_id, sizeof(iam->root_key_id), "%s", eq + 1);
        } else if (strcmp(line, "aws_secret_access_key") == 0) {
            snprintf(iam->root_secret, sizeof(iam->root_secret), "%s", eq + 1);
        }
    }
    fclose(f);
    if (iam->root_key_id[0] == '\0' || iam->root_secret[0] == '\0') {
        log_msg(LOG_ERROR, "iam", "%s lacks aws_access_key_id or aws_secret_access_key", path);
        return SL_E(CORRUPT);
    }
    return 0;
}

/* Writes the file whole (temp + fsync + rename) so a crash never leaves half a key. */
static int write_credentials(const char *path, const struct iam *iam)
{
    char *tmp = xasprintf("%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    char text[400];
    int n = snprintf(text, sizeof(text), "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n",
                     iam->root_key_id, iam->root_secret);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        rc = -errno;
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

int iam_open(struct store *st, const struct sluice_config *cfg, struct iam **out)
{
    (void)st;
    struct iam *iam = xcalloc(1, sizeof(*iam));
    snprintf(iam->account_id, sizeof(iam->account_id), "%s", cfg->account_id);
    const char *env_id = getenv("SLUICE_ROOT_ACCESS_KEY_ID");
    const char *env_secret = getenv("SLUICE_ROOT_SECRET_ACCESS_KEY");
    if (env_id != NULL && env_secret != NULL && env_id[0] && env_secret[0]) {
        snprintf(iam->root_key_id, sizeof(iam->root_key_id), "%s", env_id);
        snprintf(iam->root_secret, sizeof(iam->root_secret), "%s", env_secret);
        *out = iam;
        return 0;
    }
    char *path = xasprintf("%s/root-credentials", cfg->data_dir);
    int rc = read_credentials(path, iam);
    if (rc == -ENOENT) {
        memcpy(iam->root_key_id, "AKIA", 4);
        random_chars(iam->root_key_id + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
        random_chars(iam->root_secret, 40,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
        rc = write_credentials(path, iam);
        if (rc == 0) {
            printf("Root credentials (stored in %s, shown once):\n"
                   "  aws_access_key_id=%s\n  aws_secret_access_key=%s\n",
                   path, iam->root_key_id, iam->root_secret);
            fflush(stdout);
        }
    }
    if (rc < 0) {
        log_msg(LOG_ERROR, "iam", "cannot load root credentials from %s: %s", path,
                sl_strerror(rc));
        free(path);
        free(iam);
        return rc;
    }
    free(path);
    *out = iam;
    return 0;
}

void iam_close(struct iam *iam)
{
    free(iam);
}

int iam_key_lookup(void *arg, const char *access_key_id, char *secret_out, size_t secret_size,
                   char *account_out, size_t account_size)
{
    const struct iam *iam = arg;
    if (strcmp(access_key_id, iam->root_key_id) != 0) {
        return SL_E(AUTH_UNKNOWN_KEY);
    }
    snprintf(secret_out, secret_size, "%s", iam->root_secret);
    snprintf(account_out, account_size, "%s", iam->account_id);
    return 0;
}

const char *iam_root_access_key_id(const struct iam *iam)
{
    return iam->root_key_id;
}
