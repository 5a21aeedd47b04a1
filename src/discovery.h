/* discovery.h - the NATS service API (ADR-32: $SRV.PING / INFO / STATS).
 *
 * nats.c 3.4.1 has no services framework (micro_* came in 3.7), so the
 * discovery responses are built here by hand. Pure JSON building plus
 * thread-safe per-endpoint counters; the NATS side lives in service_conn.c.
 */
#ifndef VAULTCTL_DISCOVERY_H
#define VAULTCTL_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#define DISC_NAME   "vaultctl"
#define DISC_ID_LEN 22

typedef struct disc disc;

/* A discovery registry for one service instance; id is a fresh random
 * 22-character identifier. version is a SemVer string (borrowed, static). */
disc *disc_create(const char *version, const char *description);
void disc_free(disc *d);

/* The instance id (NUL-terminated, lives as long as d). */
const char *disc_id(const disc *d);

/* Adds an endpoint; returns its index. name and subject are copied. */
int disc_add_endpoint(disc *d, const char *name, const char *subject, const char *queue_group);

/* Records one handled request on endpoint idx: its processing time in
 * nanoseconds and, for an error, a short description (NULL on success). */
void disc_record(disc *d, int idx, int64_t ns, const char *error);

/* Totals over all endpoints (for status and logs). */
void disc_totals(disc *d, uint64_t *requests, uint64_t *errors);

/* malloc'd compact JSON of the three responses (caller frees). */
char *disc_ping_json(disc *d, size_t *len);
char *disc_info_json(disc *d, size_t *len);
char *disc_stats_json(disc *d, size_t *len);

#endif
