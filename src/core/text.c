#include "core/text.h"

#include "core/mem.h"

int hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *percent_decode(const char *s, size_t len, int plus_as_space)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+' && plus_as_space) {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) >= 0 &&
                   hex_digit((unsigned char)s[i + 2]) >= 0) {
            out[o++] = (char)(hex_digit((unsigned char)s[i + 1]) * 16 +
                              hex_digit((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}
