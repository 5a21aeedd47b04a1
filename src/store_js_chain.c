/* store_js_chain.c - the JetStream backend's fenced chain (see store_js.c):
 * every publish of the active writer, its acknowledgements, and the lease
 * (take over, renew, recover after a break). */
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

/* ---- publishing --------------------------------------------------------- */

void sjs_note_failure(sjs *j, uint64_t pos, const char *why)
{
    if (j->first_fail == NO_FAIL || pos < j->first_fail)
        j->first_fail = pos;
    if (!j->broken)
        log_warn("jetstream: a write to %s was not acknowledged (%s): this instance stops "
                 "writing and re-reads the stream",
                 j->stream, why);
    j->broken = true;
    j->active = false;
}

void sjs_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    sjs *j = closure;
    (void)js;
    pthread_mutex_lock(&j->mu);
    j->completed++;
    if (pa == NULL || pae != NULL)
        sjs_note_failure(j, j->completed,
                         pae != NULL && pae->ErrText != NULL ? pae->ErrText : "no acknowledgement");
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    natsMsg_Destroy(msg);
}

/* Publishes one message of the chain (caller holds pub_mu). */
natsStatus sjs_pub_locked(sjs *j, const char *subj, const void *data, size_t len, bool del)
{
    natsMsg *m = NULL;
    jsPubOptions po;
    char id[96], num[24];
    natsStatus st;

    (void)snprintf(id, sizeof id, "%s%" PRIu64, j->idpfx, ++j->msg_no);
    st = natsMsg_Create(&m, subj, NULL, data, (int)len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (st == NATS_OK && j->expect_seq_next) {
        (void)snprintf(num, sizeof num, "%" PRIu64, j->expect_seq);
        st = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", num);
    } else if (st == NATS_OK) {
        st = natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", j->last_id);
    }
    if (st == NATS_OK && del)
        st = natsMsgHeader_Set(m, "KV-Operation", "DEL");
    jsPubOptions_Init(&po);
    po.MaxWait = ACK_WAIT_MS;
    pthread_mutex_lock(&j->mu);
    j->published++;
    pthread_mutex_unlock(&j->mu);
    if (st == NATS_OK)
        st = js_PublishMsgAsync(j->js, &m, &po);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        pthread_mutex_lock(&j->mu);
        j->completed++;
        sjs_note_failure(j, j->completed, natsStatus_GetText(st));
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return st;
    }
    (void)snprintf(j->last_id, sizeof j->last_id, "%s", id);
    j->expect_seq_next = false;
    return NATS_OK;
}

/* Publishes every entry of w as its KV key's message (pub_mu held). */
natsStatus sjs_pub_entries(sjs *j, const sjs_wset *w)
{
    char subj[1200];
    size_t pl = strlen(j->prefix);
    natsStatus st = NATS_OK;

    memcpy(subj, j->prefix, pl + 1);
    for (size_t i = 0; st == NATS_OK && i < sjs_wset_count(w); i++) {
        const sjs_entry *e = sjs_wset_entry(w, i);
        if (!sjs_entry_key(e->tbl, e->key, e->key_len, subj + pl, sizeof subj - pl))
            return NATS_INVALID_ARG;
        st = sjs_pub_locked(j, subj, e->val, e->val_len, e->del);
    }
    return st;
}

/* Waits until the messages up to position target have completed; true if
 * none of them failed in this epoch (ep). */
bool sjs_wait_acked(sjs *j, uint64_t target, uint64_t ep, int64_t wait_ms)
{
    int64_t deadline = sjs_mono_ms() + wait_ms;
    bool ok;

    pthread_mutex_lock(&j->mu);
    while (j->completed < target && sjs_wait_until(j, deadline))
        ;
    ok = j->completed >= target && j->epoch == ep &&
         (j->first_fail == NO_FAIL || j->first_fail > target);
    if (j->completed < target && j->epoch == ep)
        sjs_note_failure(j, j->completed + 1, "acknowledgement timed out");
    pthread_mutex_unlock(&j->mu);
    return ok;
}

/* ---- the lease ------------------------------------------------------------ */

/* The holder of the last lease message in the stream, as if just applied. */
void sjs_last_lease(sjs *j)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    size_t n = 0;

    if (js_GetLastMsg(&m, j->js, j->stream, j->lease_subj, NULL, &jerr) != NATS_OK)
        return;
    const char *d = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    char when[24] = "";
    struct timespec ts;
    pthread_mutex_lock(&j->mu);
    while (d != NULL && (int)n < len && n < sizeof j->holder - 1 && d[n] != ' ')
        n++;
    if (n > 0)
        memcpy(j->holder, d, n);
    j->holder[n] = '\0';
    /* Its age by the holder's clock ("<holder> <unix ms>"), at most
     * lease_ttl: a holder dead for longer is not waited for again. A
     * skewed clock only moves the takeover: the fencing keeps it safe. */
    if (d != NULL && (int)n < len && (size_t)len - n < sizeof when)
        memcpy(when, d + n + 1, (size_t)len - n - 1);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t age = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - atoll(when);
    j->lease_seen = sjs_mono_ms() - (when[0] == '\0' || age < 0 ? 0
                                     : age > j->ttl_ms          ? j->ttl_ms
                                                                : age);
    j->lease_applied = j->lease_seen;
    pthread_mutex_unlock(&j->mu);
    natsMsg_Destroy(m);
}

/* "<holder> <unix ms>": holder "" gives the lease up. */
size_t sjs_lease_body(const char *holder, char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int w =
        snprintf(buf, cap, "%s %lld", holder, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

/* Takes the lease: catch up, publish the lease with the stream's last
 * sequence expected, re-publish the entries of the last WAL (a writer that
 * died between its WAL and its entries), then write. */
void sjs_take_over(sjs *j)
{
    uint64_t last = 0, target, ep;
    natsMsg *wm = NULL;
    jsErrCode jerr = 0;
    char body[64];
    int64_t start;
    vc_err e;
    bool ok;

    if (sjs_stream_last_seq(j, &last, &e) != VC_OK || !sjs_wait_applied(j, last, j->ttl_ms))
        return;
    /* The last WAL, read before the fence and outside pub_mu (a request
     * under it held every publish of this process for up to the API's 10 s
     * wait): had anyone written after it, the fenced lease message below
     * is refused. Unread or unreadable, its entries may be half published:
     * no taking the lease this time. */
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = j->ttl_ms / 2 < 1000 ? 1000 : j->ttl_ms / 2 > 10000 ? 10000 : j->ttl_ms / 2;
    natsStatus wst = js_GetLastMsg(&wm, j->js, j->stream, j->wal_subj, &jo, &jerr);
    sjs_wset *w = wst == NATS_OK ? sjs_wal_decode((const uint8_t *)natsMsg_GetData(wm),
                                                  (size_t)natsMsg_GetDataLength(wm))
                                 : NULL;
    natsMsg_Destroy(wm);
    if (w == NULL && (wst == NATS_OK || (wst != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr))) {
        log_warn("jetstream: the last WAL message of %s was %s within %lld ms: not taking the "
                 "lease this time",
                 j->stream, wst == NATS_OK ? "unreadable" : "not read", (long long)jo.Wait);
        return;
    }
    pthread_mutex_lock(&j->pub_mu);
    pthread_mutex_lock(&j->mu);
    if (j->active || j->broken || j->stop) {
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_unlock(&j->pub_mu);
        sjs_wset_free(w);
        return;
    }
    /* Caught up: a renewal applied meanwhile means the holder is alive (a
     * follower that fell behind saw none for a while; a holder that missed
     * forwarded writes was reconnecting). Deposing it would leave it
     * reading directly, by its own clock, until its lease runs out. */
    if (j->holder[0] != '\0' && sjs_mono_ms() - j->lease_seen < j->ttl_ms) {
        log_info("jetstream: the lease holder %s of %s renewed while this instance caught up: "
                 "it stays a standby",
                 j->holder, j->stream);
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_unlock(&j->pub_mu);
        sjs_wset_free(w);
        return;
    }
    j->epoch++;
    ep = j->epoch;
    (void)snprintf(j->idpfx, sizeof j->idpfx, "%s.%" PRIu64 ".", j->inst, j->epoch);
    j->first_fail = NO_FAIL;
    j->commits_in_epoch = false;
    j->expect_seq_next = true;
    j->expect_seq = j->applied;
    pthread_mutex_unlock(&j->mu);
    start = sjs_mono_ms();
    if (sjs_pub_locked(j, j->lease_subj, body, sjs_lease_body(j->inst, body, sizeof body), false) ==
            NATS_OK &&
        w != NULL)
        (void)sjs_pub_entries(j, w);
    sjs_wset_free(w);
    pthread_mutex_lock(&j->mu);
    target = j->published;
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_unlock(&j->pub_mu);
    ok = sjs_wait_acked(j, target, ep, j->ttl_ms);
    pthread_mutex_lock(&j->mu);
    if (ok && !j->broken && j->epoch == ep) {
        j->active = true;
        j->lease_until = start + j->ttl_ms * 2 / 3;
        j->last_renew = start;
        memcpy(j->holder, j->inst, sizeof j->holder);
        log_info("jetstream: this instance (%s) holds the write lease of %s", j->inst, j->stream);
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void renew(sjs *j)
{
    char body[64];
    uint64_t target, ep;
    int64_t start = sjs_mono_ms();
    natsStatus st;

    pthread_mutex_lock(&j->pub_mu);
    st = sjs_pub_locked(j, j->lease_subj, body, sjs_lease_body(j->inst, body, sizeof body), false);
    pthread_mutex_lock(&j->mu);
    target = j->published;
    ep = j->epoch;
    j->last_renew = start;
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_unlock(&j->pub_mu);
    if (st == NATS_OK && sjs_wait_acked(j, target, ep, j->ttl_ms)) {
        pthread_mutex_lock(&j->mu);
        if (j->active && j->epoch == ep)
            j->lease_until = start + j->ttl_ms * 2 / 3;
        pthread_mutex_unlock(&j->mu);
    }
}

/* After a break: let the publishes in flight finish, rebuild the cache if
 * it may hold writes of ours that did not land, and stand by. The lease is
 * taken again like any standby takes it: once no renewal has been seen for
 * lease_ttl (ours included: what we know of the holder may be stale, and
 * taking it at once could depose a live holder). */
static void recover(sjs *j)
{
    int64_t deadline = sjs_mono_ms() + ACK_WAIT_MS + 2000;
    bool rebuild;
    uint64_t r;

    /* Not under pub_mu: the committer may hold a cache write transaction
     * while it waits for pub_mu, and a rebuild needs one. sjs_commit
     * publishes nothing while broken. */
    pthread_mutex_lock(&j->mu);
    while (j->completed < j->published && !j->stop && sjs_wait_until(j, deadline))
        ;
    if (j->completed < j->published) {
        natsMsgList pending = {0};
        pthread_mutex_unlock(&j->mu);
        if (js_PublishAsyncGetPendingList(&pending, j->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
        pthread_mutex_lock(&j->mu);
        j->completed = j->published;
        if (j->first_fail == NO_FAIL)
            j->first_fail = j->completed;
    }
    rebuild = j->commits_in_epoch && j->first_fail != NO_FAIL;
    j->idpfx[0] = '\0';
    j->active = false;
    if (rebuild) {
        int64_t until = sjs_mono_ms() + CATCHUP_WAIT_MS / 10;
        r = j->rebuilds;
        j->want_rebuild = true;
        pthread_cond_broadcast(&j->cv);
        while (j->rebuilds == r && !j->stop && sjs_wait_until(j, until))
            ;
        if (j->rebuilds == r && !j->stop) {
            /* still broken: reads wait, and the next pass comes back here */
            log_error("jetstream: the cache of %s was not cleared for its rebuild within %d s "
                      "(the apply thread did not get to it): still not writing",
                      j->stream, CATCHUP_WAIT_MS / 10000);
            pthread_mutex_unlock(&j->mu);
            return;
        }
    }
    j->commits_in_epoch = false;
    j->broken = false;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void *sjs_lease_main(void *arg)
{
    sjs *j = arg;
    int64_t period = j->ttl_ms / 6 > 50 ? j->ttl_ms / 6 : 50;

    for (;;) {
        bool active, broken, vacant;
        int64_t now;

        pthread_mutex_lock(&j->mu);
        (void)sjs_wait_until(j, sjs_mono_ms() + period);
        if (j->stop) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        now = sjs_mono_ms();
        active = j->active;
        broken = j->broken;
        vacant = j->holder[0] == '\0' || now - j->lease_seen >= j->ttl_ms;
        bool due = now - j->last_renew >= j->ttl_ms / 3;
        int64_t late = active ? now - j->last_renew - j->ttl_ms / 2 : 0;
        pthread_mutex_unlock(&j->mu);
        if (late > 0 && late <= period) /* once per late renewal */
            log_warn("jetstream: the write lease of %s is renewed %lld ms late (a standby takes "
                     "it after lease_ttl)",
                     j->stream, (long long)late);
        if (broken)
            recover(j);
        else if (active && due)
            renew(j);
        else if (!active && vacant)
            sjs_take_over(j);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}
