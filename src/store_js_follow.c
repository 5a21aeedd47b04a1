/* store_js_follow.c - the JetStream backend's followers (see store_js.c):
 * an ordered consumer from the applied sequence + 1 into the cache, own
 * messages skipped, rebuild on request. */
#include "store_js_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "log.h"

/* ---- following the stream ------------------------------------------------ */

static vc_code follow(sjs *j, natsSubscription **sub, uint64_t from, vc_err *err)
{
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus st;

    jsSubOptions_Init(&so);
    so.Stream = j->stream;
    so.Ordered = true;
    if (from > 1) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = from;
    }
    st = js_SubscribeSync(sub, j->js_follow, j->subj_all, NULL, &so, &jerr);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(*sub, 1 << 20, 1 << 30);
    if (st != NATS_OK) {
        natsSubscription_Destroy(*sub);
        *sub = NULL;
        return sjs_unavailable(err, "cannot follow the stream", st);
    }
    return VC_OK;
}

/* What a batch did besides changing the cache. */
typedef struct {
    bool lease;
    char holder[17];
    bool foreign; /* a message not of our epoch */
} batch_notes;

/* Applies m to the cache in *t, begun here when first needed: a batch of
 * our own messages (already in the cache) and lease messages needs no
 * write transaction, which would only wait for the committer's (the
 * applied sequence is then kept in memory, and stored by the next batch
 * that writes or by a clean stop). */
static vc_code apply_msg(sjs *j, slmdb_txn **t, natsMsg *m, const char *idpfx, uint64_t *applied,
                         batch_notes *bn, vc_err *err)
{
    jsMsgMetaData *md = NULL;
    const char *subj = natsMsg_GetSubject(m), *id = NULL, *op = NULL;
    size_t pl = strlen(j->prefix);
    uint64_t seq;
    bool own;
    vc_code rc = VC_OK;

    if (natsMsg_GetMetaData(&md, m) != NATS_OK)
        return VC_OK; /* not a stream message */
    seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    if (seq <= *applied || strncmp(subj, j->prefix, pl) != 0)
        return VC_OK;
    (void)natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    own = idpfx[0] != '\0' && id != NULL && strncmp(id, idpfx, strlen(idpfx)) == 0;
    if (!own)
        bn->foreign = true;
    if (sjs_msg_kind_of(subj + pl) == SJS_MSG_LEASE) {
        const char *d = natsMsg_GetData(m);
        size_t n = 0;
        int len = natsMsg_GetDataLength(m);
        while (d != NULL && (int)n < len && n < sizeof bn->holder - 1 && d[n] != ' ')
            n++;
        if (n > 0)
            memcpy(bn->holder, d, n);
        bn->holder[n] = '\0';
        bn->lease = true;
    } else if (!own) {
        (void)natsMsgHeader_Get(m, "KV-Operation", &op);
        if (*t == NULL && (rc = slmdb_begin(j->db, true, t, err)) != VC_OK)
            return rc;
        rc = sjs_apply(*t, subj + pl, (const uint8_t *)natsMsg_GetData(m),
                       (size_t)natsMsg_GetDataLength(m), op != NULL, err);
    }
    if (rc == VC_OK)
        *applied = seq;
    return rc;
}

/* false if the batch could not be applied (then follow again from the
 * cache's applied sequence). */
static bool apply_batch(sjs *j, natsMsg **msgs, int n)
{
    slmdb_txn *t = NULL;
    batch_notes bn = {0};
    char idpfx[48];
    uint64_t applied;
    vc_err e;
    vc_code rc;

    pthread_mutex_lock(&j->mu);
    applied = j->applied;
    memcpy(idpfx, j->idpfx, sizeof idpfx);
    pthread_mutex_unlock(&j->mu);
    rc = VC_OK;
    for (int i = 0; rc == VC_OK && i < n; i++)
        rc = apply_msg(j, &t, msgs[i], idpfx, &applied, &bn, &e);
    if (rc == VC_OK && t != NULL)
        rc = sjs_local_put_u64(t, LOCAL_APPLIED, applied, &e);
    if (rc == VC_OK && t != NULL)
        rc = slmdb_commit_unsynced(t, &e); /* ends t either way */
    else if (t != NULL)
        slmdb_abort(t);
    pthread_mutex_lock(&j->mu);
    if (rc != VC_OK) {
        log_error("jetstream: cannot apply the stream to the cache: %s", e.msg);
    } else {
        j->applied = applied;
        if (bn.lease) {
            memcpy(j->holder, bn.holder, sizeof j->holder);
            j->lease_seen = j->lease_applied = sjs_mono_ms();
        }
        if (bn.foreign && j->active) {
            log_warn("jetstream: another instance writes to %s: this one is a standby now",
                     j->stream);
            j->active = false;
            j->broken = true;
        }
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return rc == VC_OK;
}

void *sjs_apply_main(void *arg)
{
    sjs *j = arg;
    natsSubscription *sub = NULL;
    natsMsg *msgs[APPLY_BATCH];
    vc_err e;

    for (;;) {
        bool rebuild;
        uint64_t from;
        int n = 0, pending = 0, pending_bytes = 0;
        natsStatus st;

        pthread_mutex_lock(&j->mu);
        if (j->stop) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        rebuild = j->want_rebuild;
        from = j->applied + 1;
        if (j->want_refollow && sub != NULL) {
            natsSubscription_Destroy(sub);
            sub = NULL;
        }
        j->want_refollow = false;
        pthread_mutex_unlock(&j->mu);
        if (rebuild) {
            int64_t created = 0;
            uint64_t last = 0;
            natsSubscription_Destroy(sub);
            sub = NULL;
            if (sjs_ensure_stream(j, &created, &last, &e) != VC_OK ||
                sjs_clear_cache(j, created, &e) != VC_OK) {
                log_error("jetstream: cannot rebuild the cache: %s", e.msg);
                nats_Sleep(500);
                continue;
            }
            log_info("jetstream: rebuilding the cache from stream %s", j->stream);
            pthread_mutex_lock(&j->mu);
            j->applied = 0;
            j->want_rebuild = false;
            j->rebuilds++;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            from = 1;
        }
        if (sub == NULL && follow(j, &sub, from, &e) != VC_OK) {
            log_warn("%s", e.msg);
            nats_Sleep(500);
            continue;
        }
        st = natsSubscription_NextMsg(&msgs[0], sub, 100);
        if (st == NATS_TIMEOUT)
            continue;
        if (st != NATS_OK) {
            log_warn("jetstream: following stream %s from sequence %" PRIu64 ": %s: following "
                     "it again",
                     j->stream, from, natsStatus_GetText(st));
            natsSubscription_Destroy(sub);
            sub = NULL;
            nats_Sleep(200);
            continue;
        }
        n = 1;
        (void)natsSubscription_GetPending(sub, &pending, &pending_bytes);
        while (n < APPLY_BATCH && pending-- > 0 &&
               natsSubscription_NextMsg(&msgs[n], sub, 1000) == NATS_OK)
            n++;
        bool applied = apply_batch(j, msgs, n);
        for (int i = 0; i < n; i++)
            natsMsg_Destroy(msgs[i]);
        if (!applied) { /* follow again from what the cache has */
            natsSubscription_Destroy(sub);
            sub = NULL;
            nats_Sleep(500);
        }
    }
    natsSubscription_Destroy(sub);
    nats_ReleaseThreadMemory();
    return NULL;
}

/* Waits until the cache has applied seq; false after wait_ms or on stop. */
bool sjs_wait_applied(sjs *j, uint64_t seq, int64_t wait_ms)
{
    int64_t deadline = sjs_mono_ms() + wait_ms, moved = sjs_mono_ms();
    uint64_t seen;
    bool ok;

    pthread_mutex_lock(&j->mu);
    seen = j->applied;
    while (j->applied < seq && !j->want_rebuild && !j->stop && sjs_mono_ms() < deadline) {
        (void)sjs_wait_until(j, deadline < moved + FOLLOW_STALL_MS ? deadline
                                                                   : moved + FOLLOW_STALL_MS);
        int64_t now = sjs_mono_ms();
        if (j->applied != seen) {
            seen = j->applied;
            moved = now;
        } else if (now - moved >= FOLLOW_STALL_MS && j->applied < seq) {
            /* an ordered consumer that delivers nothing (its reset after
             * missed heartbeats failed, or a delivery error) is made anew */
            log_warn("jetstream: the cache is at sequence %" PRIu64 " of stream %s, %" PRIu64
                     " wanted, and got nothing for %d s: following the stream again",
                     j->applied, j->stream, seq, FOLLOW_STALL_MS / 1000);
            j->want_refollow = true;
            moved = now;
        }
    }
    ok = j->applied >= seq && !j->want_rebuild;
    pthread_mutex_unlock(&j->mu);
    return ok;
}
