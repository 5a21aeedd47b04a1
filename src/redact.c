/* redact.c - hides the credentials in NATS server URLs (see redact.h). */
#include "redact.h"

#include <string.h>

/* Appends len bytes of s at *pos in out (cap bytes, cap > 0); stops quietly
 * at the end: a shortened URL is acceptable, an overflow is not. */
static void redact_put(char *out, size_t cap, size_t *pos, const char *s, size_t len)
{
    while (len-- > 0 && *pos + 1 < cap)
        out[(*pos)++] = *s++;
    out[*pos] = '\0';
}

/* One server URL of len bytes, credentials hidden. */
static void redact_one(char *out, size_t cap, size_t *pos, const char *u, size_t len)
{
    const char *host = u;
    for (size_t i = 0; i + 2 < len; i++)
        if (memcmp(u + i, "://", 3) == 0) {
            host = u + i + 3;
            break;
        }
    size_t hlen = len - (size_t)(host - u), auth = 0;
    while (auth < hlen && host[auth] != '/')
        auth++;
    const char *at = NULL;
    for (size_t i = 0; i < auth; i++)
        if (host[i] == '@')
            at = host + i;
    if (at == NULL) {
        redact_put(out, cap, pos, u, len);
        return;
    }
    const char *colon = memchr(host, ':', (size_t)(at - host));
    redact_put(out, cap, pos, u, (size_t)(host - u));
    if (colon != NULL) {
        redact_put(out, cap, pos, host, (size_t)(colon - host));
        redact_put(out, cap, pos, ":(password hidden)", strlen(":(password hidden)"));
    } else {
        redact_put(out, cap, pos, "(token hidden)", strlen("(token hidden)"));
    }
    redact_put(out, cap, pos, at, len - (size_t)(at - u));
}

void redact_urls(const char *urls, char *out, size_t cap)
{
    size_t pos = 0;
    if (out == NULL || cap == 0)
        return;
    out[0] = '\0';
    if (urls == NULL)
        return;
    for (const char *p = urls;;) {
        size_t len = strcspn(p, ",");
        redact_one(out, cap, &pos, p, len);
        if (p[len] == '\0')
            break;
        redact_put(out, cap, &pos, ",", 1);
        p += len + 1;
    }
}
