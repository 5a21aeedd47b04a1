/* token_purge.h - background purge of expired tokens (PROTOCOL.md §8):
 * a thread started by serve deletes every expired token record and wrapped
 * reply every TOKEN_PURGE_INTERVAL_S seconds. (Its own thread until the
 * shared expiry sweeper of the secret lifecycle is merged; then it is one
 * more step of that sweeper.) */
#ifndef VAULTCTL_TOKEN_PURGE_H
#define VAULTCTL_TOKEN_PURGE_H

#include "err.h"
#include "vault.h"

#define TOKEN_PURGE_INTERVAL_S 30

typedef struct token_purger token_purger;

vc_code token_purger_start(token_purger **out, vault *v, vc_err *err);

/* Stops and joins the thread (a purge in progress ends first); NULL is
 * fine. */
void token_purger_stop(token_purger *p);

#endif
