/* service_int.h - private to the service module (service*.c): struct
 * service, the job a request travels in, and what the files share. Nothing
 * outside src/service*.c includes it; the public interface is service.h.
 *
 * Files, one job each
 *   service.c       start and stop, the status reply's service fields; the
 *                   module's design (threads, audit, logs) in its opening
 *                   comment
 *   service_req.c   the request path: the request subscriptions, arrival
 *                   (with the answer on the delivery thread when idle), the
 *                   fair queue and its workers, the reply, audit event and
 *                   log line
 *   service_fwd.c   jetstream backend: a standby's writes forwarded to the
 *                   active instance, and those it receives as the active
 *                   one (fwd.h)
 *   service_conn.c  the NATS connection: its options and event callbacks,
 *                   whether it is up, the service API's $SRV subscriptions
 *
 * Each file's functions that the others call carry its prefix (sreq_,
 * sfwd_, sconn_) and are declared here, by file.
 */
#ifndef VAULTCTL_SERVICE_INT_H
#define VAULTCTL_SERVICE_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "auditpub.h"
#include "discovery.h"
#include "fairq.h"
#include "fwd.h"
#include "reqgate.h"
#include "service.h"

/* nats.c's own buffer per subscription, before a message reaches
 * on_request (which only admits or refuses it): bounded, so a flood that
 * outruns even that is dropped by nats.c (a slow-consumer error in the log)
 * rather than held. */
#define PENDING_MSGS  8192
#define PENDING_BYTES (32 * 1024 * 1024)

/* One request from arrival to reply; freed by sreq_request_done. */
typedef struct job {
    fairq_node node; /* first: a fairq_node * is a job * */
    service *svc;
    natsMsg *msg;
    ops_pending *prep; /* parsed on arrival (ops_prepare), or NULL: unread */
    int endpoint;
    int64_t arrived_ns; /* nats clock, for latency */
    int64_t arrived_ms; /* wall clock, for the audit event's time */
    bool forwarded;     /* sent by a standby (fwd.h) */
    bool local;         /* forwarding found no active instance: run here */
    vc_op op;           /* a forwarded write's, for its audit event */
    char key_hash[SEAL_AUDIT_HEX];
} job;

typedef enum { SRV_PING, SRV_INFO, SRV_STATS } srv_kind;

typedef struct {
    service *svc;
    int endpoint;
    int queue; /* its queue in s->jobs: one per subscription */
} sub_ctx;

typedef struct {
    service *svc;
    srv_kind kind;
} srv_ctx;

struct service {
    const config *cfg;
    ops_ctx ctx;
    natsOptions *opts;
    natsConnection *nc;
    disc *disc;

    natsSubscription **subs; /* request subscriptions */
    sub_ctx *sub_ctxs;
    int nsubs;
    natsSubscription *srv_subs[9];
    fwd *fwd; /* jetstream: writes forwarded to and from standbys (fwd.h) */
    srv_ctx srv_ctxs[3];

    pthread_mutex_t lock;
    pthread_cond_t jobs_cv; /* a job is queued, or stopping */
    /* One queue per subscription, served round-robin, so a subject
     * flooded with requests cannot starve another; bounded by
     * service.queue_max_requests and queue_max_bytes with a share per
     * queue (fairq.h). Under lock. */
    fairq jobs;
    bool stopping;
    /* requests received and not yet answered (queued, on a worker or
     * waiting for a commit); service_stop waits for 0 on idle_cv */
    atomic_int_fast64_t inflight;
    pthread_cond_t idle_cv;
    pthread_t *workers;
    int nworkers;
    /* workers running a request now: a request is answered on arrival
     * only while none is (the service is not busy) */
    atomic_int busy_workers;

    atomic_bool connected;
    atomic_bool closing;      /* service_stop is closing the connection */
    bool closed;              /* on_closed has run (under lock) */
    pthread_cond_t closed_cv; /* signalled when closed is set */

    auditpub *audit;

    /* which messages it acts on: clean subjects, allowed reply subjects;
     * drops counted and logged (reqgate.h) */
    reqgate *gate;
    /* answered at once without parsing: unavailable (queue full), and
     * access_denied (a subject no ACL entry gives any right) */
    atomic_uint_fast64_t refused_busy;
    atomic_uint_fast64_t refused_norights;
};

static inline int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* service_req.c */

/* Subscribes to subject in queue group "vaultctl", its messages to
 * on_request; once per subject. */
vc_code sreq_subscribe(service *s, const char *subject, vc_err *err);
/* A worker thread (pthread_create's start routine, arg the service):
 * serves s->jobs until service_stop sets stopping and it is empty. */
void *sreq_worker_main(void *arg);
/* Runs j (parsed on arrival or not); j belongs to sreq_request_done from
 * here. */
void sreq_handle(service *s, job *j);
/* j's reply r is ready: audit event, reply, stats, log; frees j. */
void sreq_request_done(service *s, job *j, const ops_reply *r);
/* The end of every request message: its payload wiped, then destroyed
 * (on a worker, in batches: service_req.c). */
void sreq_msg_release(natsMsg *m);

/* service_fwd.c */

/* fwd_start's callback: a write a standby forwarded. */
void sfwd_on_forwarded(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* ops_ctx.forward (svc is the service). */
bool sfwd_forward_write(void *svc, void *done_arg, const ops_reply *admitted);

/* service_conn.c */

/* s->opts: the connection's options and event callbacks. */
vc_code sconn_build_options(service *s, vc_err *err);
/* The NATS service API's $SRV.PING/INFO/STATS subjects, answered from
 * s->disc. */
vc_code sconn_subscribe_discovery(service *s, vc_err *err);

#endif
