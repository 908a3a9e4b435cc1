/* Small text helpers shared by the protocol parsers. */
#ifndef SLUICE_CORE_TEXT_H
#define SLUICE_CORE_TEXT_H

#include <stddef.h>

/* The value of a hexadecimal digit, or -1 when c is not one. */
int hex_digit(int c);
/*
 * Decodes %XX escapes of s[0, len) into a new NUL-terminated string (the caller frees
 * it); a '%' not followed by two hex digits stays as it is. plus_as_space: '+' means a
 * space, as in application/x-www-form-urlencoded; S3 keeps '+' literal.
 */
char *percent_decode(const char *s, size_t len, int plus_as_space);

#endif
