/* rotator.h - scheduled rotation: a thread that rotates the vault's data
 * key every rotation.interval, for `vaultctl serve`.
 *
 * Due when now >= (the vault's last rotation, or the given start time if it
 * was never rotated) + interval; checked every second. vault_rotate re-seals
 * every record in batches of durable transactions and can take a while on a
 * large vault, so it runs on this thread, not on the one that takes
 * signals. A rotation in progress cannot be interrupted: rotator_cancel
 * only keeps the next one from starting, and rotator_join waits for the
 * current one. A kill -9 instead is safe (each batch is durable; the next
 * rotation finishes the job). After a failed rotation the next try waits
 * ROTATOR_RETRY_S (or the interval, if shorter), so a full disk does not
 * fill the log. Reports go to the log (log.h).
 */
#ifndef VAULTCTL_ROTATOR_H
#define VAULTCTL_ROTATOR_H

#include <stdint.h>

#include "err.h"
#include "vault.h"

#define ROTATOR_RETRY_S 60

typedef struct rotator rotator;

/* Starts the thread: v rotated every interval_s (> 0) seconds, counting from
 * started (unix seconds) while it was never rotated. v is borrowed and must
 * stay open until rotator_join. */
vc_code rotator_start(rotator **out, vault *v, int64_t interval_s, int64_t started, vc_err *err);

/* No rotation starts after this (one in progress runs to its end). NULL is
 * fine. */
void rotator_cancel(rotator *r);

/* Cancels, waits for a rotation in progress, joins the thread and frees.
 * NULL is fine. */
void rotator_join(rotator *r);

#endif
