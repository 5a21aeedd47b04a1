/* store_js.c - the JetStream backend (see store_js.h for the stream layout):
 * the local cache is an LMDB store every read goes to; the stream
 * KV_<bucket> is the truth.
 *
 * One active writer, fenced. Only the instance holding the lease writes.
 * Every message it publishes carries a unique Nats-Msg-Id and
 * Nats-Expected-Last-Msg-Id = the id of its previous one (a chain); the
 * first after taking the lease carries Nats-Expected-Last-Sequence = the
 * last sequence it applied. The server checks both when it applies the
 * message (safe on 2.9.10, unlike per-subject checks), so a deposed
 * writer's late publishes are refused. Any refusal or ack timeout breaks
 * the chain: those writes fail (outcome unknown), the cache is rebuilt from
 * the stream if it holds writes of ours that may not have landed, and the
 * instance competes for the lease again. The lease is a message on
 * $KV.<bucket>._lease renewed every lease_ttl/3 within the chain; a standby
 * that has seen no lease message for lease_ttl catches up and takes it.
 *
 * Threads: the apply thread follows the stream (an ordered consumer from
 * the applied sequence + 1) into the cache, skipping the active's own
 * messages (already in its cache); the lease thread renews, takes over,
 * recovers after a break. Group commit: sjs_commit publishes asynchronously,
 * sjs_sync waits for the acks (a quorum has the write; 2.9.10 does not
 * fsync before acking, docs/configuration.md).
 *
 * Locks: pub_mu orders publishes (the chain); mu guards the rest. Neither
 * is held while beginning a cache write transaction, and pub_mu is taken
 * before mu.
 */
#include "latch.h"
#include "store_js_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "log.h"
#include "config.h"
#include "natsconn.h"
#include "redact.h"

int64_t sjs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on j->cv until the monotonic deadline; false once it has passed. */
bool sjs_wait_until(sjs *j, int64_t deadline)
{
    int64_t now = sjs_mono_ms();

    if (now >= deadline)
        return false;
    struct timespec ts = deadline_after_ns(CLOCK_MONOTONIC, (deadline - now) * 1000000);
    (void)pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    return true;
}

vc_code sjs_unavailable(vc_err *err, const char *what, natsStatus st)
{
    return vc_errf(err, VC_UNAVAILABLE, "jetstream: %s: %s", what, natsStatus_GetText(st));
}

/* ---- the stream ---------------------------------------------------------- */

vc_code sjs_stream_last_seq(sjs *j, uint64_t *seq, vc_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, j->js, j->stream, NULL, &jerr);

    if (st != NATS_OK)
        return sjs_unavailable(err, "stream info", st);
    /* Only the stream leader's state says what was acknowledged: while the
     * group has no leader every member answers with its own (a follower
     * that has not stored the last writes yet), Cluster.Leader "". */
    if (si->Cluster != NULL && (si->Cluster->Leader == NULL || si->Cluster->Leader[0] == '\0')) {
        jsStreamInfo_Destroy(si);
        return vc_errf(err, VC_UNAVAILABLE,
                       "jetstream: stream %s has no leader (its info came from a member)",
                       j->stream);
    }
    *seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return VC_OK;
}

/* Creates the stream if missing (or turns direct get off on one made by a
 * KV client); *created and *last from its info. */
vc_code sjs_ensure_stream(sjs *j, int64_t *created, uint64_t *last, vc_err *err)
{
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *subjects[1] = {j->subj_all};
    natsStatus st;

    jsStreamConfig_Init(&sc);
    sc.Name = j->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = j->replicas;
    sc.MaxMsgsPerSubject = 1;
    sc.AllowDirect = false;
    sc.AllowRollup = true;
    sc.DenyDelete = true;
    sc.Discard = js_DiscardNew;
    st = js_GetStreamInfo(&si, j->js, j->stream, NULL, &jerr);
    if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        jerr = 0;
        st = js_AddStream(&si, j->js, &sc, NULL, &jerr);
        if (st != NATS_OK) /* another instance may have just made it */
            st = js_GetStreamInfo(&si, j->js, j->stream, NULL, &jerr);
        if (st == NATS_OK)
            log_info("jetstream: stream %s (%d replicas)", j->stream, j->replicas);
    } else if (st == NATS_OK && si->Config != NULL && si->Config->AllowDirect) {
        jsStreamInfo_Destroy(si);
        si = NULL;
        st = js_UpdateStream(&si, j->js, &sc, NULL, &jerr);
        if (st == NATS_OK)
            log_warn("jetstream: stream %s had direct get on (stale reads from followers): "
                     "turned off",
                     j->stream);
    }
    if (st != NATS_OK)
        return vc_errf(err, VC_UNAVAILABLE, "jetstream: stream %s: %s (%d): %s", j->stream,
                       natsStatus_GetText(st), (int)jerr, nats_GetLastError(NULL));
    *created = si->Created;
    *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return VC_OK;
}

/* ---- the cache's bookkeeping -------------------------------------------- */

vc_code sjs_local_put_u64(slmdb_txn *t, const char *key, uint64_t x, vc_err *err)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(x >> (8 * i));
    return slmdb_put(t, STORE_LOCAL, (const uint8_t *)key, strlen(key), b, sizeof b, err);
}

static uint64_t local_get_u64(slmdb_txn *t, const char *key)
{
    const uint8_t *v;
    size_t n;
    vc_err e;
    uint64_t x = 0;

    if (slmdb_get(t, STORE_LOCAL, (const uint8_t *)key, strlen(key), &v, &n, &e) != VC_OK || n != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)v[i] << (8 * i);
    return x;
}

/* Empties the cache (every table) and notes the stream it follows. */
vc_code sjs_clear_cache(sjs *j, int64_t created, vc_err *err)
{
    slmdb_txn *t = NULL;
    vc_code rc = slmdb_begin(j->db, true, &t, err);

    for (int i = 0; rc == VC_OK && i < SLMDB_N_TABLES; i++)
        rc = slmdb_clear(t, (store_table)i, err);
    if (rc == VC_OK)
        rc = sjs_local_put_u64(t, LOCAL_CREATED, (uint64_t)created, err);
    if (rc != VC_OK) {
        slmdb_abort(t);
        return rc;
    }
    return slmdb_commit(t, err);
}

/* Opening: the cache resumes from its applied sequence unless it may hold
 * writes that never reached the stream (dirty: the active stopped without
 * its acknowledgements) or follows another stream (recreated by restore). */
static vc_code prepare_cache(sjs *j, int64_t created, uint64_t last, vc_err *err)
{
    slmdb_txn *t = NULL;
    uint64_t applied, dirty, was, meta = 0;
    vc_code rc = slmdb_begin(j->db, false, &t, err);

    if (rc != VC_OK)
        return rc;
    applied = local_get_u64(t, LOCAL_APPLIED);
    dirty = local_get_u64(t, LOCAL_DIRTY);
    was = local_get_u64(t, LOCAL_CREATED);
    if (was == 0 && slmdb_count(t, STORE_META, &meta, err) == VC_OK && meta > 0) {
        /* never a cache: the lmdb backend's store, which a rebuild would wipe */
        slmdb_abort(t);
        return vc_errf(err, VC_CONFIG,
                       "storage.path holds a vault of the lmdb backend, not a jetstream cache: "
                       "give the jetstream backend another directory (and move the vault with "
                       "backup and restore)");
    }
    slmdb_abort(t);
    if (dirty == 0 && was == (uint64_t)created && applied <= last) {
        j->applied = applied;
        return VC_OK;
    }
    if (applied > 0 || was != 0)
        log_info("jetstream: rebuilding the cache from stream %s (%s)", j->stream,
                 dirty ? "it may hold unacknowledged writes"
                       : "it followed another incarnation of the stream");
    j->applied = 0;
    return sjs_clear_cache(j, created, err);
}

/* ---- the store's calls ------------------------------------------------------ */

bool sjs_is_active(sjs *j)
{
    bool a;
    pthread_mutex_lock(&j->mu);
    a = j->active && !j->broken;
    pthread_mutex_unlock(&j->mu);
    return a;
}

bool sjs_forward_subject(sjs *j, bool own, char *buf, size_t cap)
{
    char holder[17];
    int w;

    pthread_mutex_lock(&j->mu);
    memcpy(holder, own ? j->inst : j->holder, sizeof holder);
    pthread_mutex_unlock(&j->mu);
    if (holder[0] == '\0' || (!own && strcmp(holder, j->inst) == 0))
        return false;
    w = snprintf(buf, cap, "%s%s", j->fwd_base, holder);
    return w > 0 && (size_t)w < cap;
}

void sjs_holder_unreachable(sjs *j)
{
    pthread_mutex_lock(&j->mu);
    if (!j->active && j->holder[0] != '\0' && strcmp(j->holder, j->inst) != 0) {
        log_info("jetstream: the lease holder %s does not answer forwarded writes: taking the "
                 "lease",
                 j->holder);
        /* vacant 2/3 lease_ttl after its last renewal seen here: past the
         * holder's direct reads (lease_until), if it is alive after all
         * (e.g. reconnecting) */
        int64_t at = j->lease_applied - j->ttl_ms / 3;
        if (j->lease_seen > at)
            j->lease_seen = at;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
}

size_t sjs_txn_max_bytes(sjs *j)
{
    return j->max_payload > (size_t)128 * 1024 ? j->max_payload - (size_t)64 * 1024
                                               : j->max_payload / 2;
}

vc_code sjs_write_allowed(sjs *j, vc_err *err)
{
    /* A write reaches a store that may not write only when forwarding it
     * failed (fwd.h): the holder may be dead (a restarted single instance
     * after kill -9) or frozen. It waits up to lease_ttl for the lease to
     * come here rather than fail at once. */
    int64_t deadline = sjs_mono_ms() + j->ttl_ms + 2000;
    bool ok;

    pthread_mutex_lock(&j->mu);
    while (!(j->active && !j->broken) && !j->stop && sjs_wait_until(j, deadline))
        ;
    ok = j->active && !j->broken;
    pthread_mutex_unlock(&j->mu);
    if (ok)
        return VC_OK;
    return vc_errf(err, VC_UNAVAILABLE,
                   "jetstream: this process does not hold the write lease of %s (another "
                   "instance does: writes reach it over NATS, e.g. vaultctl request; or the "
                   "lease is changing hands: retry)",
                   j->stream);
}

/* Runs one shared stream query for the barrier (mu held, dropped during it). */
static void barrier_query(sjs *j)
{
    uint64_t target = 0;
    vc_err qe;

    j->q_running = true;
    j->q_started++;
    pthread_mutex_unlock(&j->mu);
    vc_code rc = sjs_stream_last_seq(j, &target, &qe);
    pthread_mutex_lock(&j->mu);
    j->q_running = false;
    j->q_done = j->q_started;
    j->q_failed = rc != VC_OK;
    if (rc == VC_OK)
        j->q_result = target;
    else
        (void)snprintf(j->q_why, sizeof j->q_why, "%.150s", qe.msg);
    pthread_cond_broadcast(&j->cv);
}

vc_code sjs_read_barrier(sjs *j, vc_err *err)
{
    int64_t wait_ms = j->ttl_ms * 2 > 5000 ? j->ttl_ms * 2 : 5000;
    int64_t deadline = sjs_mono_ms() + wait_ms;
    uint64_t ticket, target = 0;
    bool failed = false;

    pthread_mutex_lock(&j->mu);
    if (j->active && !j->broken && sjs_mono_ms() < j->lease_until) {
        pthread_mutex_unlock(&j->mu);
        return VC_OK;
    }
    /* A query that starts after this read arrived: the next one, never one
     * already in flight. A failed one (no stream leader: a failover) is
     * followed by another, 100 ms later, until the deadline. */
    for (;;) {
        ticket = j->q_started + 1;
        while (j->q_done < ticket) {
            if (!j->q_running) {
                barrier_query(j);
                continue;
            }
            if (!sjs_wait_until(j, deadline))
                break;
        }
        if (j->q_done < ticket || !j->q_failed || j->stop)
            break;
        int64_t pause = sjs_mono_ms() + 100;
        while (sjs_mono_ms() < pause && sjs_wait_until(j, pause < deadline ? pause : deadline))
            ;
        if (sjs_mono_ms() >= deadline)
            break;
    }
    if (j->q_done < ticket || j->q_failed) {
        vc_code rc =
            vc_errf(err, VC_UNAVAILABLE,
                    "jetstream: the state of stream %s was not read from its leader "
                    "within %lld ms (%s)",
                    j->stream, (long long)wait_ms, j->q_done < ticket ? "no answer" : j->q_why);
        pthread_mutex_unlock(&j->mu);
        return rc;
    }
    target = j->q_result;
    while ((j->applied < target || j->broken || j->want_rebuild) && !j->stop &&
           sjs_wait_until(j, deadline))
        ;
    failed = j->applied < target || j->broken || j->want_rebuild;
    uint64_t applied = j->applied;
    pthread_mutex_unlock(&j->mu);
    if (failed)
        return vc_errf(err, VC_UNAVAILABLE,
                       "jetstream: the local cache did not apply stream %s up to sequence %" PRIu64
                       " within %lld ms (it has %" PRIu64 ")",
                       j->stream, target, (long long)wait_ms, applied);
    return VC_OK;
}

vc_code sjs_commit(sjs *j, slmdb_txn *t, const sjs_wset *w, vc_err *err)
{
    size_t wal_len = 0;
    uint8_t *wal;
    natsStatus st = NATS_OK;
    vc_code rc;

    if (sjs_wset_count(w) == 0)
        return slmdb_commit_unsynced(t, err);
    wal = sjs_wal_encode(w, &wal_len);
    if (wal == NULL) {
        slmdb_abort(t);
        return vc_errf(err, VC_INTERNAL, "storage: out of memory");
    }
    if (wal_len + 1024 > j->max_payload) {
        slmdb_abort(t);
        free(wal);
        return vc_errf(err, VC_UNAVAILABLE,
                       "jetstream: a write transaction of %zu bytes is over the server's "
                       "max_payload (%zu bytes): nothing was changed",
                       wal_len, j->max_payload);
    }
    pthread_mutex_lock(&j->pub_mu);
    /* no wait here (pub_mu is held): store_begin waited already */
    rc = sjs_is_active(j)
             ? VC_OK
             : vc_errf(err, VC_UNAVAILABLE,
                       "jetstream: this instance lost the write lease of %s: retry", j->stream);
    if (rc == VC_OK)
        rc = sjs_local_put_u64(t, LOCAL_DIRTY, 1, err);
    if (rc != VC_OK) {
        pthread_mutex_unlock(&j->pub_mu);
        slmdb_abort(t);
        free(wal);
        return rc;
    }
    rc = slmdb_commit_unsynced(t, err);
    if (rc == VC_OK) {
        pthread_mutex_lock(&j->mu);
        j->commits_in_epoch = true;
        pthread_mutex_unlock(&j->mu);
        st = sjs_pub_locked(j, j->wal_subj, wal, wal_len, false);
        if (st == NATS_OK)
            st = sjs_pub_entries(j, w);
        if (st != NATS_OK)
            rc = sjs_unavailable(err, "publish", st);
    }
    pthread_mutex_unlock(&j->pub_mu);
    free(wal);
    return rc;
}

vc_code sjs_sync(sjs *j, vc_err *err)
{
    uint64_t target, ep;

    pthread_mutex_lock(&j->mu);
    target = j->published;
    ep = j->epoch;
    pthread_mutex_unlock(&j->mu);
    if (sjs_wait_acked(j, target, ep, ACK_WAIT_MS + 2000))
        return VC_OK;
    return vc_errf(err, VC_UNAVAILABLE,
                   "jetstream: the write to %s was not acknowledged (its outcome is unknown: "
                   "read the key before retrying)",
                   j->stream);
}

void sjs_stat(sjs *j, store_info *info)
{
    pthread_mutex_lock(&j->mu);
    info->backend = "jetstream";
    info->role = j->active && !j->broken ? "active" : "standby";
    (void)snprintf(info->stream, sizeof info->stream, "%s", j->stream);
    info->replicas = j->replicas;
    info->applied_seq = j->applied;
    pthread_mutex_unlock(&j->mu);
}

/* ---- open and close ---------------------------------------------------------- */

static vc_code connect_nats(sjs *j, const config *c, vc_err *err)
{
    natsconn_params p = natsconn_params_of(c, "vaultctl-store");
    /* Replies (JetStream API, acks, the consumer) under the namespace only
     * the vault user may subscribe to: fwd.h's FWD_INBOX_PREFIX. */
    p.inbox_prefix = "_VAULTCTL._INBOX";
    char shown[1024];
    jsOptions jo;
    natsStatus st;
    int64_t deadline = sjs_mono_ms() + CONNECT_WAIT_MS;
    vc_code rc = natsconn_options(&j->opts, &p, err);

    if (rc != VC_OK)
        return rc;
    st = natsconn_keep_connecting(j->opts, NULL, NULL);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(j->opts, natsconn_log_error, NULL);
    if (st != NATS_OK)
        return vc_errf(err, VC_CONFIG, "jetstream: nats options: %s", natsStatus_GetText(st));
    redact_urls(c->nats_url, shown, sizeof shown);
    st = natsConnection_Connect(&j->nc, j->opts);
    if (st == NATS_OK || st == NATS_NOT_YET_CONNECTED)
        st = natsConnection_Connect(&j->nc_follow, j->opts);
    if (st == NATS_NOT_YET_CONNECTED) {
        while ((natsConnection_Status(j->nc) != NATS_CONN_STATUS_CONNECTED ||
                natsConnection_Status(j->nc_follow) != NATS_CONN_STATUS_CONNECTED) &&
               sjs_mono_ms() < deadline)
            nats_Sleep(50);
        st = natsConnection_Status(j->nc) == NATS_CONN_STATUS_CONNECTED &&
                     natsConnection_Status(j->nc_follow) == NATS_CONN_STATUS_CONNECTED
                 ? NATS_OK
                 : NATS_TIMEOUT;
    }
    if (st != NATS_OK)
        return vc_errf(err, VC_UNAVAILABLE, "jetstream: cannot connect to %s: %s", shown,
                       natsStatus_GetText(st));
    j->max_payload = (size_t)natsConnection_GetMaxPayload(j->nc);
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    jo.PublishAsync.AckHandler = sjs_on_ack;
    jo.PublishAsync.AckHandlerClosure = j;
    jo.PublishAsync.MaxPending = MAX_PENDING_PUB;
    st = natsConnection_JetStream(&j->js, j->nc, &jo);
    if (st == NATS_OK) {
        jsOptions_Init(&jo);
        jo.Wait = 10000;
        st = natsConnection_JetStream(&j->js_follow, j->nc_follow, &jo);
    }
    if (st != NATS_OK)
        return sjs_unavailable(err, "cannot use JetStream", st);
    return VC_OK;
}

static void close_nats(sjs *j)
{
    jsCtx_Destroy(j->js_follow);
    jsCtx_Destroy(j->js);
    if (j->nc_follow != NULL) {
        natsConnection_Close(j->nc_follow);
        natsConnection_Destroy(j->nc_follow);
    }
    if (j->nc != NULL) {
        natsConnection_Close(j->nc);
        natsConnection_Destroy(j->nc);
    }
}

static bool names_fit(sjs *j, const char *b)
{
    char hex[17];
    uint8_t rnd[8];
    int w[6];

    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    memcpy(j->inst, hex, sizeof j->inst);
    w[0] = snprintf(j->stream, sizeof j->stream, "KV_%s", b);
    w[1] = snprintf(j->subj_all, sizeof j->subj_all, "$KV.%s.>", b);
    w[2] = snprintf(j->prefix, sizeof j->prefix, "$KV.%s.", b);
    w[3] = snprintf(j->wal_subj, sizeof j->wal_subj, "$KV.%s._wal", b);
    w[4] = snprintf(j->lease_subj, sizeof j->lease_subj, "$KV.%s._lease", b);
    w[5] = snprintf(j->fwd_base, sizeof j->fwd_base, "_VAULTCTL.%s.write.", b);
    return w[0] > 0 && (size_t)w[0] < sizeof j->stream && w[1] > 0 &&
           (size_t)w[1] < sizeof j->subj_all && w[2] > 0 && (size_t)w[2] < sizeof j->prefix &&
           w[3] > 0 && (size_t)w[3] < sizeof j->wal_subj && w[4] > 0 &&
           (size_t)w[4] < sizeof j->lease_subj && w[5] > 0 && (size_t)w[5] < sizeof j->fwd_base;
}

static vc_code init_sync(sjs *j)
{
    pthread_condattr_t ca;

    if (pthread_condattr_init(&ca) != 0)
        return VC_INTERNAL;
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&j->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        return VC_INTERNAL;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        pthread_cond_destroy(&j->cv);
        return VC_INTERNAL;
    }
    if (pthread_mutex_init(&j->pub_mu, NULL) != 0) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        return VC_INTERNAL;
    }
    return VC_OK;
}

vc_code sjs_open(sjs **out, slmdb *db, const config *c, vc_err *err)
{
    sjs *j = calloc(1, sizeof *j);
    int64_t created = 0;
    uint64_t last = 0;
    vc_code rc;

    *out = NULL;
    if (j == NULL)
        return vc_errf(err, VC_CONFIG, "jetstream: out of memory");
    if (init_sync(j) != VC_OK) {
        free(j);
        return vc_errf(err, VC_CONFIG, "jetstream: cannot create locks");
    }
    j->db = db;
    j->replicas = c->js_replicas;
    j->ttl_ms = c->js_lease_ttl_s * 1000;
    j->first_fail = NO_FAIL;
    if (!names_fit(j, c->js_bucket)) {
        rc = vc_errf(err, VC_CONFIG, "storage.jetstream.bucket: name too long");
        goto fail;
    }
    if ((rc = connect_nats(j, c, err)) != VC_OK)
        goto fail;
    /* A cluster just started may have no JetStream meta leader yet. */
    for (int64_t until = sjs_mono_ms() + CONNECT_WAIT_MS;
         (rc = sjs_ensure_stream(j, &created, &last, err)) != VC_OK && sjs_mono_ms() < until;)
        nats_Sleep(500);
    if (rc != VC_OK || (rc = prepare_cache(j, created, last, err)) != VC_OK)
        goto fail;
    if (pthread_create(&j->apply_thr, NULL, sjs_apply_main, j) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "jetstream: cannot start a thread");
        goto fail;
    }
    j->apply_on = true;
    if (!sjs_wait_applied(j, last, CATCHUP_WAIT_MS)) {
        rc = vc_errf(err, VC_UNAVAILABLE,
                     "jetstream: the cache in %s did not catch up with stream %s (sequence %" PRIu64
                     ") within %d s",
                     c->storage_path, j->stream, last, CATCHUP_WAIT_MS / 1000);
        goto fail;
    }
    /* A cache that resumed has not applied the lease message again: ask. */
    if (j->holder[0] == '\0')
        sjs_last_lease(j);
    if (j->holder[0] == '\0') /* nobody holds the lease (a new vault): take it now */
        sjs_take_over(j);
    if (pthread_create(&j->lease_thr, NULL, sjs_lease_main, j) != 0) {
        rc = vc_errf(err, VC_INTERNAL, "jetstream: cannot start a thread");
        goto fail;
    }
    j->lease_on = true;
    log_info("jetstream: following stream %s from sequence %" PRIu64 " as %s (instance %s)",
             j->stream, j->applied, j->active ? "the active writer" : "a standby", j->inst);
    *out = j;
    return VC_OK;
fail:
    sjs_close(j);
    return rc;
}

vc_code sjs_delete_stream(const config *c, vc_err *err)
{
    sjs *j = calloc(1, sizeof *j);
    jsErrCode jerr = 0;
    vc_code rc;

    if (j == NULL)
        return vc_errf(err, VC_INTERNAL, "jetstream: out of memory");
    rc = names_fit(j, c->js_bucket) ? connect_nats(j, c, err)
                                    : vc_errf(err, VC_CONFIG, "storage.jetstream.bucket: too long");
    if (rc == VC_OK) {
        natsStatus st = js_DeleteStream(j->js, j->stream, NULL, &jerr);
        if (st != NATS_OK && jerr != JSStreamNotFoundErr)
            rc = sjs_unavailable(err, "cannot delete the stream", st);
    }
    close_nats(j);
    natsOptions_Destroy(j->opts);
    free(j);
    return rc;
}

/* A clean stop: when every write of ours was acknowledged, the cache is as
 * the stream says and need not be rebuilt; the lease is given up so a
 * standby takes it at once. */
static void stop_cleanly(sjs *j)
{
    uint64_t target, ep;
    bool active, clean = false;
    char body[64];
    slmdb_txn *t = NULL;
    vc_err e;

    pthread_mutex_lock(&j->mu);
    active = j->active && !j->broken;
    pthread_mutex_unlock(&j->mu);
    if (active) {
        pthread_mutex_lock(&j->pub_mu);
        (void)sjs_pub_locked(j, j->lease_subj, body, sjs_lease_body("", body, sizeof body), false);
        pthread_mutex_unlock(&j->pub_mu);
    }
    pthread_mutex_lock(&j->mu);
    target = j->published;
    ep = j->epoch;
    pthread_mutex_unlock(&j->mu);
    clean = sjs_wait_acked(j, target, ep, ACK_WAIT_MS);
    if (!clean) {
        log_warn("jetstream: stopping: not every write to %s was acknowledged within %d s: the "
                 "cache is rebuilt at the next start",
                 j->stream, ACK_WAIT_MS / 1000);
        return;
    }
    if (slmdb_begin(j->db, true, &t, &e) != VC_OK)
        return;
    pthread_mutex_lock(&j->mu);
    uint64_t applied = j->applied;
    pthread_mutex_unlock(&j->mu);
    if (sjs_local_put_u64(t, LOCAL_DIRTY, 0, &e) != VC_OK ||
        sjs_local_put_u64(t, LOCAL_APPLIED, applied, &e) != VC_OK) {
        slmdb_abort(t);
        return;
    }
    (void)slmdb_commit(t, &e); /* ends t either way */
}

void sjs_close(sjs *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (j->lease_on)
        pthread_join(j->lease_thr, NULL);
    if (j->apply_on)
        pthread_join(j->apply_thr, NULL);
    if (j->js != NULL)
        stop_cleanly(j);
    close_nats(j);
    natsOptions_Destroy(j->opts);
    pthread_mutex_destroy(&j->pub_mu);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}
