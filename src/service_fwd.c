/* service_fwd.c - write forwarding for the jetstream backend (fwd.h): on a
 * standby, a write goes to the active instance, whose reply goes out as
 * this instance's (or, with no active instance, it runs here, waiting
 * for the lease); on the active instance, a write a standby forwarded is
 * run as if it had arrived on its original subject.
 */
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "proto.h"
#include "service_int.h"

/* A write a standby forwarded (fwd.h): handled on this delivery thread as
 * if it had arrived on its original subject (a write only queues). */
void sfwd_on_forwarded(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    service *s = closure;
    job *j =
        fwd_arrival(msg) != NULL && natsMsg_GetReply(msg) != NULL ? calloc(1, sizeof *j) : NULL;
    (void)nc;
    (void)sub;
    if (j == NULL) {
        sreq_msg_release(msg);
        return;
    }
    *j = (job){.svc = s, .msg = msg, .endpoint = -1, .forwarded = true};
    j->arrived_ns = nats_NowInNanoSeconds();
    j->arrived_ms = wall_ms();
    atomic_fetch_add(&s->inflight, 1);
    sreq_handle(s, j);
}

/* fwd_done_fn: the active instance's reply goes out as this one's. */
static void forward_done(void *arg, fwd_outcome o, const char *body, size_t len, vc_code code)
{
    job *j = arg;
    ops_reply r;

    if (o == FWD_NO_ACTIVE) { /* never ran there: here it waits for the lease */
        vault_holder_unreachable(j->svc->ctx.vault);
        j->local = true;
        sreq_handle(j->svc, j);
        return;
    }
    memset(&r, 0, sizeof r);
    r.op = j->op;
    memcpy(r.key_hash, j->key_hash, sizeof r.key_hash);
    r.code = o == FWD_REPLY ? code : VC_UNAVAILABLE;
    if (o == FWD_REPLY && (r.body = malloc(len + 1)) != NULL) {
        memcpy(r.body, body, len);
        r.body[len] = '\0';
        r.len = len;
    } else {
        r.code = VC_UNAVAILABLE;
        r.body = proto_error(VC_UNAVAILABLE,
                             "the active instance did not answer in time: the write's outcome "
                             "is unknown",
                             NULL, &r.len);
    }
    (void)snprintf(r.log_msg, sizeof r.log_msg, "forwarded to the active instance");
    sreq_request_done(j->svc, j, &r);
    ops_reply_free(&r);
}

/* ops_ctx.forward: a standby's write goes to the active instance. */
bool sfwd_forward_write(void *svc, void *done_arg, const ops_reply *admitted)
{
    service *s = svc;
    job *j = done_arg;

    if (j->forwarded || j->local)
        return false;
    j->op = admitted->op;
    memcpy(j->key_hash, admitted->key_hash, sizeof j->key_hash);
    /* ops cancels its pending request when this returns true, and
     * forward_done may run (and handle j again) before it does. */
    j->prep = NULL;
    return fwd_send(s->fwd, j->msg, forward_done, j);
}
