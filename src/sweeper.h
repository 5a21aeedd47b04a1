/* sweeper.h - the background sweep of `vaultctl serve`: a thread that
 * removes what has expired from the store (PROTOCOL.md §7: expired secrets,
 * with every kept version, within a minute of their expiry; later also
 * expired tokens, §8, as another step of the same pass).
 *
 * A pass runs at start (so an expiry that passed while the service was down
 * takes effect at once) and then every SWEEPER_INTERVAL_S. A pass calls
 * vault_sweep in batches of SWEEPER_BATCH keys until nothing due is left:
 * each batch is one write of the vault's group commit, so requests queued
 * meanwhile go into the next transaction instead of waiting for the whole
 * pass. Callers never depend on the sweep for correctness: an expired key
 * is not_found from the second it expires (vault.h); the sweep only frees
 * the space. Reports go to the log.
 */
#ifndef VAULTCTL_SWEEPER_H
#define VAULTCTL_SWEEPER_H

#include <stdint.h>

#include "err.h"
#include "vault.h"

#define SWEEPER_INTERVAL_S 10
#define SWEEPER_BATCH      256

typedef struct sweeper sweeper;

/* Starts the thread (first pass at once); every interval_s seconds after
 * (0: SWEEPER_INTERVAL_S). v is borrowed and must stay open until
 * sweeper_join. */
vc_code sweeper_start(sweeper **out, vault *v, int64_t interval_s, vc_err *err);

/* Stops after the current batch, joins the thread and frees. NULL is fine. */
void sweeper_join(sweeper *s);

/* Counters since start (diagnostics, tests). */
typedef struct {
    uint64_t passes;  /* passes completed */
    uint64_t removed; /* keys removed */
    int64_t last_ms;  /* duration of the last pass that removed any, ms */
} sweeper_stats;

void sweeper_stats_get(sweeper *s, sweeper_stats *out);

#endif
