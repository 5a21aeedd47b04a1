/* bench_load.c - the load generator of `make bench`.
 *
 * Usage: bench_load --url URL --target vault|echo|kv --op get|set|mix|list|preload
 *                   [--window W] [--conns C] [--seconds S] [--warmup S]
 *                   [--keys N] [--value-bytes B] [--subject S] [--bucket B]
 *                   [--replicas R] [--api] [--inbox-prefix P]
 *
 * A user and password go in the URL (nats://user:pass@host:port). Under the
 * permissions of examples/nats-server.conf a client may subscribe only to
 * its own inboxes: --inbox-prefix _INBOX.admin makes them _INBOX.admin.<nuid>.
 *
 * Pipelined engine (the default): C connections, each with one wildcard
 * subscription on its own inbox (_INBOX.<nuid>.*). W requests are kept in
 * flight, split over the connections: each in-flight slot publishes a
 * request with the reply subject _INBOX.<nuid>.<slot>_<seq>, and the reply
 * callback matches the token back to its slot, records the latency and at
 * once sends the slot's next request. So the window stays full without one
 * thread per request, and every target is driven by the very same client:
 *
 *   vault  JSON requests of the protocol on --subject (vaultctl serve)
 *   echo   the same JSON payloads on --subject (bench_echo answers with them)
 *   kv     JetStream KV, on the wire exactly what nats.c sends: a get is
 *          the direct get kvStore_Get issues for a bucket with direct access
 *          ($JS.API.DIRECT.GET.KV_<b>.$KV.<b>.<key>, empty payload, reply
 *          is the stored message or a 404 status); a put is what
 *          kvStore_Put / js_PublishAsync send ($KV.<b>.<key> with the value,
 *          reply is the PubAck). Pipelining them is js_PublishAsync's model.
 *   kv --api  the nats.c KV API itself: W threads, each calling
 *          kvStore_Get / kvStore_Put synchronously (one request in flight
 *          per thread). A cross-check of the pipelined figures; threads cost
 *          client CPU on a small machine, so it is not used for ratios.
 *
 * Ops: get / set (a random one of --keys keys), mix (90% get, 10% set), list
 * (a page of 100 names after a random key; vault only), preload (set keys
 * 0..N-1 once each, then exit; for kv it also creates the bucket, with
 * --replicas R replicas: 3 on a cluster, the jetstream backend's default).
 *
 * Prints one line:
 *   RESULT target=.. op=.. window=.. conns=.. ok=.. errors=.. total=..
 *          seconds=.. rps=.. p50_us=.. p99_us=.. p999_us=..
 * ok/errors/rps/percentiles count only replies received in the measured
 * window (after --warmup); total counts every reply, warm-up included (so a
 * caller can relate it to LMDB transaction counts). A reply that reports an
 * error (vault status error, KV 404 or PubAck error, echo of the wrong
 * length) is an error. Exit 0 when there was no error.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUE       65536
#define REQ_MAX         (MAX_VALUE + 512)
#define LIST_LIMIT      100
#define DRAIN_WAIT_MS   10000
#define PRELOAD_WAIT_MS 600000

typedef enum { TGT_VAULT, TGT_ECHO, TGT_KV } target_kind;
typedef enum { B_GET, B_SET, B_MIX, B_LIST, B_PRELOAD, B_ISSUE } op_kind;
enum { PH_WARMUP, PH_MEASURE, PH_STOP };

typedef struct {
    int64_t *v;
    size_t n, cap;
} samples;

typedef struct {
    int64_t sent_ns;
    uint32_t seq;
    uint32_t req_len;
    bool is_set;
} slot;

struct bench;

typedef struct {
    struct bench *b;
    int idx;
    natsConnection *nc;
    natsSubscription *sub;
    jsCtx *js;
    kvStore *kv;
    char inbox[128];
    int nslots;
    slot *slots;
    samples lat;
    uint64_t ok, errors, total;
} conn;

typedef struct {
    struct bench *b;
    conn *c;
    int idx;
    samples lat;
    uint64_t ok, errors, total;
} api_thread;

typedef struct bench {
    /* parameters */
    const char *url, *subject, *bucket;
    int replicas;             /* of a bucket preload creates */
    const char *inbox_prefix; /* NULL: _INBOX.<nuid> */
    target_kind target;
    op_kind op;
    int window, nconns;
    double seconds, warmup;
    unsigned keys, value_bytes;
    bool api;
    char *value;       /* value_bytes letters, NUL-terminated */
    const char *token; /* --token: a scoped token sent with every get */

    conn *conns;
    atomic_int phase;
    atomic_int outstanding;
    atomic_uint next_key; /* preload */
    atomic_bool err_shown;
} bench;

static const char *const target_names[] = {"vault", "echo", "kv"};
static const char *const op_names[] = {"get", "set", "mix", "list", "preload", "issue"};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* splitmix64: the key of (connection, slot, seq) without shared RNG state. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int samples_add(samples *s, int64_t v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        int64_t *nv = realloc(s->v, cap * sizeof *nv);
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- requests ----------------------------------------------------------- */

/* Builds the subject and payload of one request for key k. Returns the
 * payload length, or -1 if it does not fit. */
static int build_request(const bench *b, bool is_set, unsigned k, char *subj, size_t subj_cap,
                         char *buf, size_t cap)
{
    int n, m;
    char key[32];

    n = snprintf(key, sizeof key, "bench/key-%06u", k);
    if (n < 0 || (size_t)n >= sizeof key)
        return -1;
    if (b->target == TGT_KV) {
        if (is_set) {
            m = snprintf(subj, subj_cap, "$KV.%s.%s", b->bucket, key);
            n = snprintf(buf, cap, "%s", b->value);
        } else {
            m = snprintf(subj, subj_cap, "$JS.API.DIRECT.GET.KV_%s.$KV.%s.%s", b->bucket, b->bucket,
                         key);
            n = 0;
            buf[0] = '\0';
        }
        if (m < 0 || (size_t)m >= subj_cap)
            return -1;
    } else {
        m = snprintf(subj, subj_cap, "%s", b->subject);
        if (m < 0 || (size_t)m >= subj_cap)
            return -1;
        if (b->op == B_LIST)
            n = snprintf(buf, cap,
                         "{\"operation\":\"list\",\"prefix\":\"bench/\",\"limit\":%d,"
                         "\"after\":\"%s\"}",
                         LIST_LIMIT, key);
        else if (b->op == B_ISSUE)
            n = snprintf(buf, cap,
                         "{\"operation\":\"issue\",\"policy\":{\"keys\":[\"%s\"],"
                         "\"operations\":[\"get\"]},\"ttl\":60,\"uses\":1}",
                         key);
        else if (is_set)
            n = snprintf(buf, cap, "{\"operation\":\"set\",\"key\":\"%s\",\"value\":\"%s\"}", key,
                         b->value);
        else if (b->token != NULL)
            n = snprintf(buf, cap, "{\"operation\":\"get\",\"key\":\"%s\",\"token\":\"%s\"}", key,
                         b->token);
        else
            n = snprintf(buf, cap, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    }
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

static void slot_done(conn *c)
{
    (void)c;
    atomic_fetch_sub(&c->b->outstanding, 1);
}

/* Sends the next request of slot s of c (or retires the slot when the run
 * is over). Runs on the main thread for the first request of each slot and
 * then on c's delivery thread. */
static void send_next(conn *c, int s)
{
    bench *b = c->b;
    slot *sl = &c->slots[s];
    char subj[256], reply[160];
    static _Thread_local char buf[REQ_MAX];
    unsigned k;
    int len, n;

    if (b->op == B_PRELOAD) {
        k = atomic_fetch_add(&b->next_key, 1);
        if (k >= b->keys) {
            slot_done(c);
            return;
        }
        sl->is_set = true;
    } else {
        if (atomic_load(&b->phase) == PH_STOP) {
            slot_done(c);
            return;
        }
        uint64_t r = mix64(((uint64_t)c->idx << 48) ^ ((uint64_t)s << 32) ^ sl->seq);
        k = (unsigned)(r % b->keys);
        sl->is_set = b->op == B_SET || (b->op == B_MIX && (r >> 40) % 10 == 0);
    }
    sl->seq++;
    len = build_request(b, sl->is_set, k, subj, sizeof subj, buf, sizeof buf);
    n = snprintf(reply, sizeof reply, "%s.%d_%u", c->inbox, s, sl->seq);
    if (len < 0 || n < 0 || (size_t)n >= sizeof reply) {
        c->errors++;
        slot_done(c);
        return;
    }
    sl->req_len = (uint32_t)len;
    sl->sent_ns = now_ns();
    natsStatus st = natsConnection_PublishRequest(c->nc, subj, reply, buf, len);
    if (st != NATS_OK) {
        fprintf(stderr, "bench_load: publish: %s\n", natsStatus_GetText(st));
        c->errors++;
        slot_done(c);
    }
}

/* Whether a reply says the request succeeded. */
static bool reply_ok(const bench *b, const slot *sl, natsMsg *m)
{
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    const char *hv = NULL;

    switch (b->target) {
    case TGT_ECHO:
        return (uint32_t)len == sl->req_len;
    case TGT_KV:
        if (natsMsgHeader_Get(m, "Status", &hv) == NATS_OK)
            return false; /* 404 no message, 408 ... */
        if (sl->is_set)
            return data != NULL && memmem(data, (size_t)len, "\"error\"", 7) == NULL &&
                   memmem(data, (size_t)len, "\"seq\"", 5) != NULL;
        return len > 0;
    case TGT_VAULT:
    default:
        return data != NULL && memmem(data, (size_t)len, "\"success\"", 9) != NULL;
    }
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    conn *c = closure;
    bench *b = c->b;
    const char *subj = natsMsg_GetSubject(msg);
    const char *tok = strrchr(subj, '.');
    char *end = NULL;
    (void)nc;
    (void)sub;

    int64_t t = now_ns();
    if (tok == NULL)
        goto out;
    unsigned long s = strtoul(tok + 1, &end, 10);
    if (end == NULL || *end != '_' || s >= (unsigned long)c->nslots)
        goto out;
    unsigned long seq = strtoul(end + 1, NULL, 10);
    slot *sl = &c->slots[s];
    if (seq != sl->seq)
        goto out; /* stale: cannot happen without timeouts, but be safe */

    bool ok = reply_ok(b, sl, msg);
    if (!ok && !atomic_exchange(&b->err_shown, true))
        fprintf(stderr, "bench_load: error reply (%s): %.*s\n", target_names[b->target],
                natsMsg_GetDataLength(msg) > 300 ? 300 : natsMsg_GetDataLength(msg),
                natsMsg_GetData(msg) ? natsMsg_GetData(msg) : "");
    c->total++;
    if (b->op == B_PRELOAD || atomic_load(&b->phase) == PH_MEASURE) {
        if (ok) {
            c->ok++;
            if (samples_add(&c->lat, t - sl->sent_ns) != 0)
                c->errors++;
        } else {
            c->errors++;
        }
    }
    natsMsg_Destroy(msg);
    send_next(c, (int)s);
    return;
out:
    natsMsg_Destroy(msg);
}

/* ---- set-up ------------------------------------------------------------- */

static natsStatus conn_open(bench *b, conn *c)
{
    natsOptions *o = NULL;
    natsInbox *inbox = NULL;
    char wild[160];
    natsStatus st = natsOptions_Create(&o);

    if (st == NATS_OK)
        st = natsOptions_SetURL(o, b->url);
    if (st == NATS_OK)
        st = natsOptions_SetName(o, "bench_load");
    /* As the service and the harness: each publish goes out at once. */
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(o, true);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(o, 1000000);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(o, 5000);
    if (st == NATS_OK)
        st = natsConnection_Connect(&c->nc, o);
    natsOptions_Destroy(o);
    if (st == NATS_OK)
        st = natsInbox_Create(&inbox);
    if (st == NATS_OK) {
        /* natsInbox_Create gives "_INBOX.<nuid>": keep the nuid */
        const char *nuid = strrchr((const char *)inbox, '.');
        int n = b->inbox_prefix == NULL
                    ? snprintf(c->inbox, sizeof c->inbox, "%s", (const char *)inbox)
                    : snprintf(c->inbox, sizeof c->inbox, "%s%s", b->inbox_prefix,
                               nuid != NULL ? nuid : ".x");
        int m = snprintf(wild, sizeof wild, "%s.*", c->inbox);
        if (n < 0 || (size_t)n >= sizeof c->inbox || m < 0 || (size_t)m >= sizeof wild)
            st = NATS_INVALID_ARG;
    }
    natsInbox_Destroy(inbox);
    if (st == NATS_OK && !b->api)
        st = natsConnection_Subscribe(&c->sub, c->nc, wild, on_reply, c);
    if (st == NATS_OK && c->sub != NULL)
        st = natsSubscription_SetPendingLimits(c->sub, -1, -1);
    if (st == NATS_OK && b->target == TGT_KV) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 10000;
        st = natsConnection_JetStream(&c->js, c->nc, &jo);
    }
    if (st == NATS_OK)
        st = natsConnection_FlushTimeout(c->nc, 5000);
    return st;
}

static void conn_close(conn *c)
{
    if (c->sub != NULL)
        (void)natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    kvStore_Destroy(c->kv);
    jsCtx_Destroy(c->js);
    if (c->nc != NULL)
        natsConnection_Close(c->nc);
    natsConnection_Destroy(c->nc);
    free(c->slots);
    free(c->lat.v);
}

/* The bucket: created on preload (file storage, one value per key), looked
 * up otherwise. */
static natsStatus kv_bind(bench *b, conn *c)
{
    natsStatus st = js_KeyValue(&c->kv, c->js, b->bucket);
    if (st == NATS_OK || b->op != B_PRELOAD)
        return st;
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = b->bucket;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    kc.Replicas = b->replicas;
    return js_CreateKeyValue(&c->kv, c->js, &kc);
}

/* ---- the nats.c KV API in threads ---------------------------------------- */

static void *api_main(void *arg)
{
    api_thread *a = arg;
    bench *b = a->b;
    char key[32];
    uint32_t seq = 0;

    while (atomic_load(&b->phase) != PH_STOP) {
        uint64_t r = mix64(((uint64_t)a->idx << 40) ^ seq++);
        bool is_set = b->op == B_SET || (b->op == B_MIX && (r >> 40) % 10 == 0);
        int n = snprintf(key, sizeof key, "bench/key-%06u", (unsigned)(r % b->keys));
        natsStatus st = NATS_INVALID_ARG;
        int64_t t0 = now_ns();

        if (n > 0 && (size_t)n < sizeof key) {
            if (is_set) {
                uint64_t rev = 0;
                st = kvStore_Put(&rev, a->c->kv, key, b->value, (int)b->value_bytes);
            } else {
                kvEntry *e = NULL;
                st = kvStore_Get(&e, a->c->kv, key);
                kvEntry_Destroy(e);
            }
        }
        int64_t t1 = now_ns();
        a->total++;
        if (atomic_load(&b->phase) != PH_MEASURE)
            continue;
        if (st == NATS_OK && samples_add(&a->lat, t1 - t0) == 0) {
            a->ok++;
        } else {
            a->errors++;
            if (!atomic_exchange(&b->err_shown, true))
                fprintf(stderr, "bench_load: kv api: %s\n", natsStatus_GetText(st));
        }
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

/* ---- run ----------------------------------------------------------------- */

static int usage(void)
{
    fputs("usage: bench_load --url URL --target vault|echo|kv\n"
          "                  --op get|set|mix|list|preload [--window W] [--conns C]\n"
          "                  [--seconds S] [--warmup S] [--keys N] [--value-bytes B]\n"
          "                  [--subject S] [--bucket B] [--replicas R] [--api]\n"
          "                  [--inbox-prefix P]\n",
          stderr);
    return 2;
}

static int parse_args(bench *b, int argc, char **argv)
{
    const char *tgt = NULL, *op = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--api") == 0) {
            b->api = true;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "--url") == 0)
            b->url = v;
        else if (strcmp(a, "--target") == 0)
            tgt = v;
        else if (strcmp(a, "--op") == 0)
            op = v;
        else if (strcmp(a, "--window") == 0)
            b->window = atoi(v);
        else if (strcmp(a, "--conns") == 0)
            b->nconns = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            b->seconds = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            b->warmup = atof(v);
        else if (strcmp(a, "--keys") == 0)
            b->keys = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--value-bytes") == 0)
            b->value_bytes = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--token") == 0)
            b->token = v;
        else if (strcmp(a, "--subject") == 0)
            b->subject = v;
        else if (strcmp(a, "--bucket") == 0)
            b->bucket = v;
        else if (strcmp(a, "--replicas") == 0)
            b->replicas = atoi(v);
        else if (strcmp(a, "--inbox-prefix") == 0)
            b->inbox_prefix = v;
        else
            return -1;
    }
    b->target = (target_kind)-1;
    for (int t = 0; tgt != NULL && t < 3; t++)
        if (strcmp(tgt, target_names[t]) == 0)
            b->target = (target_kind)t;
    b->op = (op_kind)-1;
    for (int o = 0; op != NULL && o < 6; o++)
        if (strcmp(op, op_names[o]) == 0)
            b->op = (op_kind)o;
    if (b->url == NULL || (int)b->target < 0 || (int)b->op < 0 || b->window < 1 || b->nconns < 1 ||
        b->keys < 1 || b->value_bytes < 1 || b->value_bytes > MAX_VALUE || b->seconds <= 0 ||
        b->warmup < 0 || b->replicas < 1 || b->replicas > 5)
        return -1;
    if ((b->api && b->target != TGT_KV) || (b->op == B_LIST && b->target == TGT_KV))
        return -1;
    if (b->nconns > b->window)
        b->nconns = b->window;
    return 0;
}

static void report(const bench *b, int64_t *all, size_t n, uint64_t ok, uint64_t errors,
                   uint64_t total, double secs)
{
    qsort(all, n, sizeof *all, cmp_i64);
#define PCT(q) (n ? (double)all[(size_t)((double)(n - 1) * (q))] / 1000.0 : 0.0)
    printf("RESULT target=%s%s op=%s window=%d conns=%d ok=%llu errors=%llu total=%llu "
           "seconds=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f\n",
           target_names[b->target], b->api ? "-api" : "", op_names[b->op], b->window, b->nconns,
           (unsigned long long)ok, (unsigned long long)errors, (unsigned long long)total, secs,
           secs > 0 ? (double)ok / secs : 0.0, PCT(0.50), PCT(0.99), PCT(0.999));
#undef PCT
}

int main(int argc, char **argv)
{
    bench b = {.subject = "bench.requests",
               .bucket = "bench",
               .replicas = 1,
               .window = 1,
               .nconns = 4,
               .seconds = 2.0,
               .warmup = 0.5,
               .keys = 10000,
               .value_bytes = 64};
    api_thread *threads = NULL;
    pthread_t *tids = NULL;
    int nthreads = 0, status = 1;
    int64_t *all = NULL;
    uint64_t ok = 0, errors = 0, total = 0;
    size_t nall = 0;
    int64_t t0, t1;
    natsStatus st;

    if (parse_args(&b, argc, argv) != 0)
        return usage();
    b.value = malloc(b.value_bytes + 1);
    b.conns = calloc((size_t)b.nconns, sizeof *b.conns);
    if (b.value == NULL || b.conns == NULL)
        goto out;
    for (unsigned i = 0; i < b.value_bytes; i++)
        b.value[i] = (char)('a' + i % 26);
    b.value[b.value_bytes] = '\0';
    atomic_init(&b.phase, PH_WARMUP);
    atomic_init(&b.outstanding, 0);
    atomic_init(&b.next_key, 0);
    atomic_init(&b.err_shown, false);

    for (int i = 0; i < b.nconns; i++) {
        conn *c = &b.conns[i];
        c->b = &b;
        c->idx = i;
        c->nslots = b.window / b.nconns + (i < b.window % b.nconns ? 1 : 0);
        c->slots = calloc((size_t)c->nslots, sizeof *c->slots);
        if (c->slots == NULL)
            goto out;
        st = conn_open(&b, c);
        if (st == NATS_OK && b.target == TGT_KV)
            st = kv_bind(&b, c);
        if (st != NATS_OK) {
            fprintf(stderr, "bench_load: connect %s: %s (%s)\n", b.url, natsStatus_GetText(st),
                    nats_GetLastError(NULL));
            goto out;
        }
    }

    t0 = now_ns();
    if (b.api) {
        nthreads = b.window;
        threads = calloc((size_t)nthreads, sizeof *threads);
        tids = calloc((size_t)nthreads, sizeof *tids);
        if (threads == NULL || tids == NULL)
            goto out;
        for (int i = 0; i < nthreads; i++) {
            threads[i] = (api_thread){.b = &b, .c = &b.conns[i % b.nconns], .idx = i};
            if (pthread_create(&tids[i], NULL, api_main, &threads[i]) != 0) {
                atomic_store(&b.phase, PH_STOP);
                nthreads = i;
                break;
            }
        }
    } else {
        for (int i = 0; i < b.nconns; i++) {
            atomic_fetch_add(&b.outstanding, b.conns[i].nslots);
            for (int s = 0; s < b.conns[i].nslots; s++)
                send_next(&b.conns[i], s);
        }
    }

    if (b.op == B_PRELOAD) {
        for (int w = 0; atomic_load(&b.outstanding) > 0 && w < PRELOAD_WAIT_MS; w++)
            sleep_s(0.001);
        t1 = now_ns();
    } else {
        sleep_s(b.warmup);
        atomic_store(&b.phase, PH_MEASURE);
        t0 = now_ns();
        sleep_s(b.seconds);
        atomic_store(&b.phase, PH_STOP);
        t1 = now_ns();
        for (int w = 0; atomic_load(&b.outstanding) > 0 && w < DRAIN_WAIT_MS; w++)
            sleep_s(0.001);
    }
    int lost = atomic_load(&b.outstanding);
    if (lost > 0)
        fprintf(stderr, "bench_load: %d requests never answered\n", lost);
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);

    /* Close first: no callback runs while the samples are merged. */
    for (int i = 0; i < b.nconns; i++) {
        if (b.conns[i].sub != NULL)
            (void)natsSubscription_Unsubscribe(b.conns[i].sub);
    }
    size_t cap = 0;
    for (int i = 0; i < b.nconns; i++)
        cap += b.conns[i].lat.n;
    for (int i = 0; i < nthreads; i++)
        cap += threads[i].lat.n;
    all = malloc((cap ? cap : 1) * sizeof *all);
    if (all == NULL)
        goto out;
    for (int i = 0; i < b.nconns; i++) {
        conn *c = &b.conns[i];
        if (c->lat.n > 0) /* v is NULL when empty */
            memcpy(all + nall, c->lat.v, c->lat.n * sizeof *all);
        nall += c->lat.n;
        ok += c->ok;
        errors += c->errors;
        total += c->total;
    }
    for (int i = 0; i < nthreads; i++) {
        if (threads[i].lat.n > 0)
            memcpy(all + nall, threads[i].lat.v, threads[i].lat.n * sizeof *all);
        nall += threads[i].lat.n;
        ok += threads[i].ok;
        errors += threads[i].errors;
        total += threads[i].total;
    }
    errors += (uint64_t)(lost > 0 ? lost : 0);
    report(&b, all, nall, ok, errors, total, (double)(t1 - t0) / 1e9);
    status = errors == 0 ? 0 : 1;
out:
    for (int i = 0; b.conns != NULL && i < b.nconns; i++)
        conn_close(&b.conns[i]);
    if (threads != NULL)
        for (int i = 0; i < b.window; i++)
            free(threads[i].lat.v);
    free(threads);
    free(tids);
    free(all);
    free(b.conns);
    free(b.value);
    nats_Close();
    return status;
}
