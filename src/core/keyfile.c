/*
 * The data directory's master keys (kms-master-key, lake-master-key): one 256-bit key a
 * file, as a hex line, mode 0600. Created at first use, durably: temp file, fsync,
 * rename, directory fsync, so a crash never leaves half a key, and a key that wrapped
 * an acknowledged write is on disk before that write is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/file.h"
#include "core/mem.h"
#include "core/text.h"

static int read_key(const char *path, uint8_t key[AES_GCM_KEY_LEN])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    char line[128] = "";
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || strlen(line) != 2 * AES_GCM_KEY_LEN) {
        return SL_E(CORRUPT);
    }
    for (size_t i = 0; i < AES_GCM_KEY_LEN; i++) {
        int hi = hex_digit(line[2 * i]), lo = hex_digit(line[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return SL_E(CORRUPT);
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int write_key(const char *dir, const char *path, const uint8_t key[AES_GCM_KEY_LEN])
{
    char *tmp = xasprintf("%s.tmp", path);
    char text[2 * AES_GCM_KEY_LEN + 2];
    hex_encode(key, AES_GCM_KEY_LEN, text);
    strcat(text, "\n");
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    } else if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0) {
        rc = errno ? -errno : SL_E(IO);
        close(fd);
        unlink(tmp);
    } else {
        close(fd);
        if (rename(tmp, path) != 0) {
            rc = -errno;
            unlink(tmp);
        }
    }
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || file_dir_sync(dfd) < 0) {
            rc = SL_E(IO);
        }
        if (dfd >= 0) {
            close(dfd);
        }
    }
    explicit_bzero(text, sizeof(text));
    free(tmp);
    return rc;
}

int crypto_key_file_load(const char *dir, const char *name, uint8_t key[AES_GCM_KEY_LEN])
{
    char *path = xasprintf("%s/%s", dir, name);
    int rc = read_key(path, key);
    if (rc == -ENOENT) {
        crypto_random(key, AES_GCM_KEY_LEN);
        rc = write_key(dir, path, key);
    }
    if (rc < 0) {
        explicit_bzero(key, AES_GCM_KEY_LEN);
    }
    free(path);
    return rc;
}
