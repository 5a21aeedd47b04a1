/* redact.h - NATS server URLs with their credentials hidden, for logs and
 * `serve --check`: the one copy of that rule.
 *
 * A URL's user:password@ is shown as user:(password hidden)@ and a token@
 * as (token hidden)@; everything else is kept as it is. Only the part
 * between "://" (or the start) and the first '/' is looked at, and the last
 * '@' in it ends the credentials, so a password holding '@' is hidden
 * whole. The secret bytes are never copied, so a cut output never shows a
 * part of one.
 */
#ifndef VAULTCTL_REDACT_H
#define VAULTCTL_REDACT_H

#include <stddef.h>

/* Writes urls (one URL or a comma-separated list, as nats.url allows) to out
 * with every URL's credentials hidden, the commas kept as they are. out
 * (cap bytes) is always NUL-terminated when cap > 0; a result longer than
 * cap - 1 bytes is cut there. urls NULL gives "". */
void redact_urls(const char *urls, char *out, size_t cap);

#endif
