/* utf8.h - UTF-8 validation: the one rule for "valid UTF-8" in vaultctl.
 *
 * Valid means what jansson accepts in a string and RFC 3629 allows: no
 * overlong forms, no surrogates (U+D800-U+DFFF), no code point above
 * U+10FFFF. NUL and control characters are valid UTF-8; callers that refuse
 * them check that themselves. No allocation, no state, thread-safe. */
#ifndef VAULTCTL_UTF8_H
#define VAULTCTL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the UTF-8 sequence that starts at s, reading at most n
 * bytes (n >= 1); 0 if the bytes there are not one valid sequence. */
size_t utf8_seq(const unsigned char *s, size_t n);

/* Whether the len bytes at s are valid UTF-8 (len 0: true). */
bool utf8_valid(const char *s, size_t len);

#endif
