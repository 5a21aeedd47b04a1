/* store_js_int.h - private to the JetStream backend's files (store_js.c,
 * store_js_chain.c, store_js_follow.c): struct sjs and what they share. See
 * store_js.c for the design, store_js.h for the store's calls. */
#ifndef VAULTCTL_STORE_JS_INT_H
#define VAULTCTL_STORE_JS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "store_js.h"

#define ACK_WAIT_MS     10000  /* an unacknowledged publish fails after this */
#define CONNECT_WAIT_MS 30000  /* sjs_open waits this long for NATS */
#define CATCHUP_WAIT_MS 300000 /* and this long for the cache to catch up */
#define APPLY_BATCH     512
#define FOLLOW_STALL_MS 10000 /* a waiter sees no progress this long: follow again */
#define MAX_PENDING_PUB 65536
#define LOCAL_APPLIED   "applied"
#define LOCAL_DIRTY     "dirty"
#define LOCAL_CREATED   "stream_created"
#define NO_FAIL         UINT64_MAX

/* Ordered by size (no padding); the groups say what guards what. */
struct sjs {
    slmdb *db;
    natsOptions *opts;
    natsConnection *nc; /* publishes, their acks, API requests */
    jsCtx *js;
    /* The stream's deliveries come on a connection of their own: on one
     * connection, a publisher blocked writing (the server stalls a client
     * whose outbound is full) kept nats.c from reading those deliveries,
     * and the server from reading the publishes, until its write deadline
     * closed the connection (~10 s without renewals). */
    natsConnection *nc_follow;
    jsCtx *js_follow;
    int64_t ttl_ms;
    size_t max_payload;
    pthread_t apply_thr, lease_thr;
    pthread_mutex_t mu;     /* guards everything below but the chain */
    pthread_cond_t cv;      /* any change below */
    pthread_mutex_t pub_mu; /* orders publishes: msg_no, last_id, expect_* */

    /* the role */
    uint64_t epoch;
    /* monotonic ms: reads are direct before it, the start of the last
     * acknowledged renewal + 2/3 lease_ttl. A standby takes the lease no
     * sooner than 2/3 lease_ttl after it applied that renewal (that soon
     * only from a holder that no longer answers forwarded writes, else
     * after lease_ttl), so a deposed holder stops reading directly first. */
    int64_t lease_until;
    int64_t last_renew;    /* monotonic ms of the last renewal's start */
    int64_t lease_seen;    /* monotonic ms when the last lease message was applied */
    int64_t lease_applied; /* the same, never moved back by sjs_holder_unreachable */
    /* following */
    uint64_t applied;
    uint64_t rebuilds;
    /* publishing: counts of messages published and completed (acked or
     * failed, in publish order), the first failed position in this epoch */
    uint64_t published, completed, first_fail;
    uint64_t msg_no, expect_seq; /* pub_mu */
    /* the read barrier's shared stream query */
    uint64_t q_started, q_done, q_result;
    int replicas;

    bool stop, active, broken;
    bool commits_in_epoch; /* the cache has writes of ours from this epoch */
    bool want_rebuild;
    bool want_refollow;   /* the consumer delivered nothing while behind */
    bool expect_seq_next; /* pub_mu */
    bool q_running, q_failed;
    bool apply_on, lease_on;

    char stream[64], subj_all[80], prefix[80], wal_subj[96], lease_subj[96], fwd_base[96];
    char inst[17];    /* this process: 16 random hex digits */
    char idpfx[48];   /* "<inst>.<epoch>." of our fenced messages, or "" */
    char holder[17];  /* the last lease message's holder ("" none) */
    char last_id[96]; /* pub_mu */
    char q_why[160];  /* why the last barrier query failed */
};

/* store_js.c */
int64_t sjs_mono_ms(void);
/* Waits on j->cv (mu held) until the monotonic deadline; false once past. */
bool sjs_wait_until(sjs *j, int64_t deadline);
vc_code sjs_unavailable(vc_err *err, const char *what, natsStatus st);
vc_code sjs_stream_last_seq(sjs *j, uint64_t *seq, vc_err *err);
vc_code sjs_ensure_stream(sjs *j, int64_t *created, uint64_t *last, vc_err *err);
vc_code sjs_local_put_u64(slmdb_txn *t, const char *key, uint64_t x, vc_err *err);
vc_code sjs_clear_cache(sjs *j, int64_t created, vc_err *err);

/* store_js_chain.c: publishing in the fenced chain, and the lease */
void sjs_note_failure(sjs *j, uint64_t pos, const char *why); /* mu held */
void sjs_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);
natsStatus sjs_pub_locked(sjs *j, const char *subj, const void *data, size_t len, bool del);
natsStatus sjs_pub_entries(sjs *j, const sjs_wset *w);
bool sjs_wait_acked(sjs *j, uint64_t target, uint64_t ep, int64_t wait_ms);
void sjs_last_lease(sjs *j);
size_t sjs_lease_body(const char *holder, char *buf, size_t cap);
void sjs_take_over(sjs *j);
void *sjs_lease_main(void *arg);

/* store_js_follow.c: the stream into the cache */
void *sjs_apply_main(void *arg);
bool sjs_wait_applied(sjs *j, uint64_t seq, int64_t wait_ms);

#endif
