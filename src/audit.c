/* audit.c - audit event JSON and the bounded event queue (see audit.h). */
#include "audit.h"

#include "latch.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"
#include "utf8.h"

/* How long the consumer waits for more events after taking some, before it
 * goes to sleep until signalled: while events keep coming it wakes once per
 * linger and takes all of them, and producers never signal it (a wake-up
 * per event cost ~13 % of gets/s on 2 CPUs: make bench, events queued and
 * never published against events not built). */
#define AUDIT_LINGER_NS 1000000L

struct audit_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool sleeping;       /* the consumer waits until signalled */
    bool hot;            /* the consumer took events since it last slept */
    char **events;       /* ring of capacity slots */
    size_t *lens;
    size_t capacity, head, count;
    bool closed;
    uint64_t dropped;
};

/* ---- events ------------------------------------------------------------- */

/* The event is formatted here rather than with jansson: it is built for
 * every request, and a jansson object (a hash table, a node per field, a
 * dump buffer) cost ~8 % of gets/s on 2 CPUs (make bench, audit on against
 * events built and not published). The output is byte for byte what
 * jansson's compact dump gave (test_audit checks it against jansson). */

/* Writes "s" as a JSON string at out (room for 6 * strlen(s) + 2 bytes),
 * escaped as jansson dumps it; returns the bytes written. A string that is
 * not valid UTF-8 (NATS subjects are bytes) is written with each byte
 * >= 0x80 as '?', rather than losing the event. */
static size_t put_string(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0, o = 0;

    /* Most strings (names, times, hashes, most subjects) need no escape:
     * found in one pass, copied whole. */
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++, len++)
        if (*p < 0x20 || *p >= 0x80 || *p == '"' || *p == '\\')
            break;
    if (s[len] == '\0') {
        out[0] = '"';
        memcpy(out + 1, s, len);
        out[len + 1] = '"';
        return len + 2;
    }
    len += strlen(s + len);
    bool ok = utf8_valid(s, len);

    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && !ok) {
            out[o++] = '?';
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        switch (c) {
        case '"':
        case '\\':
            out[o++] = (char)c;
            break;
        case '\b':
            out[o++] = 'b';
            break;
        case '\f':
            out[o++] = 'f';
            break;
        case '\n':
            out[o++] = 'n';
            break;
        case '\r':
            out[o++] = 'r';
            break;
        case '\t':
            out[o++] = 't';
            break;
        default:
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
            break;
        }
    }
    out[o++] = '"';
    return o;
}

/* Appends the member ,"name":"value" (first: without the comma). */
static size_t put_member(char *out, bool first, const char *name, const char *value)
{
    size_t o = 0;
    if (!first)
        out[o++] = ',';
    o += put_string(out + o, name);
    out[o++] = ':';
    return o + put_string(out + o, value);
}

char *audit_event_json(const audit_event *ev, size_t *len)
{
    /* The subject is caller-chosen bytes: escaped as in the log (log.h),
     * so no consumer of the event ever prints a control byte or a bidi
     * override from it. A short one stays on the stack. */
    const char *raw = ev->subject != NULL ? ev->subject : "";
    size_t raw_len = strlen(raw);
    char small[LOG_ESCAPED_MAX(128)], *big = NULL;
    const char *subject;
    if (LOG_ESCAPED_MAX(raw_len) <= sizeof small) {
        subject = log_escape(small, sizeof small, raw, raw_len);
    } else {
        if ((big = malloc(LOG_ESCAPED_MAX(raw_len))) == NULL)
            return NULL;
        subject = log_escape(big, LOG_ESCAPED_MAX(raw_len), raw, raw_len);
    }
    const char *outcome = ev->outcome == VC_OK ? "success" : vc_code_name(ev->outcome);
    const char *op = op_name(ev->op);
    char when[TIMEFMT_RFC3339_LEN], mac[sizeof AUDIT_HMAC_PREFIX + 64];
    char tmac[sizeof AUDIT_HMAC_PREFIX + 64];
    bool with_mac = false, with_tmac = false;
    size_t cap = 288, o = 0;
    char *out;

    timefmt_rfc3339_ms(ev->time_ms, when);
    if (ev->key_hash != NULL && ev->key_hash[0] != '\0') {
        int n = snprintf(mac, sizeof mac, "%s%s", AUDIT_HMAC_PREFIX, ev->key_hash);
        /* A hash that does not fit is not one of ours: leave it out rather
         * than write a truncated one. */
        with_mac = n > 0 && (size_t)n < sizeof mac;
    }
    if (ev->token_hash != NULL && ev->token_hash[0] != '\0') {
        int n = snprintf(tmac, sizeof tmac, "%s%s", AUDIT_HMAC_PREFIX, ev->token_hash);
        with_tmac = n > 0 && (size_t)n < sizeof tmac;
    }
    /* Every string at its worst (6 bytes per byte) plus the names. */
    cap += 6 * (sizeof AUDIT_EVENT_TYPE + strlen(when) + strlen(subject) + strlen(op) +
                strlen(outcome) + (with_mac ? strlen(mac) : 0) + (with_tmac ? strlen(tmac) : 0) +
                (ev->instance != NULL ? strlen(ev->instance) : 0)) +
           (ev->extra != NULL ? strlen(ev->extra) : 0);
    out = malloc(cap);
    if (out == NULL) {
        free(big);
        return NULL;
    }
    out[o++] = '{';
    o += put_member(out + o, true, "type", AUDIT_EVENT_TYPE);
    o += put_member(out + o, false, "time", when);
    if (ev->instance != NULL)
        o += put_member(out + o, false, "instance", ev->instance);
    o += put_member(out + o, false, "subject", subject);
    o += put_member(out + o, false, "operation", op);
    o += put_member(out + o, false, "outcome", outcome);
    o += (size_t)snprintf(out + o, cap - o, ",\"latency_us\":%lld", (long long)ev->latency_us);
    if (with_mac)
        o += put_member(out + o, false, "key_hmac", mac);
    if (with_tmac) /* the token, by its accessor's keyed hash */
        o += put_member(out + o, false, "token_hmac", tmac);
    if (ev->version != 0)
        o += (size_t)snprintf(out + o, cap - o, ",\"version\":%llu",
                              (unsigned long long)ev->version);
    if (ev->extra != NULL && ev->extra[0] != '\0')
        o += (size_t)snprintf(out + o, cap - o, ",%s", ev->extra);
    out[o++] = '}';
    out[o] = '\0';
    free(big);
    if (len != NULL)
        *len = o;
    return out;
}

/* ---- queue -------------------------------------------------------------- */

audit_queue *audit_queue_create(size_t capacity)
{
    audit_queue *q = calloc(1, sizeof *q);

    if (capacity == 0)
        capacity = 1;
    if (q == NULL)
        return NULL;
    q->events = calloc(capacity, sizeof *q->events);
    q->lens = calloc(capacity, sizeof *q->lens);
    if (q->events == NULL || q->lens == NULL)
        goto fail;
    q->capacity = capacity;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        goto fail;
    pthread_condattr_t attr;
    bool cond_ok = pthread_condattr_init(&attr) == 0;
    if (cond_ok) {
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&q->cond, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!cond_ok) {
        pthread_mutex_destroy(&q->lock);
        goto fail;
    }
    return q;

fail:
    free(q->events);
    free(q->lens);
    free(q);
    return NULL;
}

void audit_queue_free(audit_queue *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->count; i++)
        free(q->events[(q->head + i) % q->capacity]);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q->events);
    free(q->lens);
    free(q);
}

bool audit_queue_push(audit_queue *q, char *event, size_t len)
{
    bool ok;

    pthread_mutex_lock(&q->lock);
    ok = !q->closed && q->count < q->capacity;
    if (ok) {
        size_t slot = (q->head + q->count) % q->capacity;
        q->events[slot] = event;
        q->lens[slot] = len;
        q->count++;
        if (q->sleeping)
            pthread_cond_signal(&q->cond);
    } else {
        q->dropped++;
    }
    pthread_mutex_unlock(&q->lock);
    if (!ok)
        free(event);
    return ok;
}

bool audit_queue_pop(audit_queue *q, char **event, size_t *len)
{
    bool ok;

    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        if (q->hot) {
            /* Linger: producers do not signal, so this wait runs its time
             * (or ends at close), and whatever came meanwhile is taken. */
            struct timespec until = deadline_after_ns(CLOCK_MONOTONIC, AUDIT_LINGER_NS);
            q->hot = false;
            (void)pthread_cond_timedwait(&q->cond, &q->lock, &until);
        } else {
            q->sleeping = true;
            pthread_cond_wait(&q->cond, &q->lock);
            q->sleeping = false;
        }
    }
    ok = q->count > 0;
    if (ok)
        q->hot = true;
    if (ok) {
        *event = q->events[q->head];
        *len = q->lens[q->head];
        q->events[q->head] = NULL;
        q->head = (q->head + 1) % q->capacity;
        q->count--;
    } else {
        *event = NULL;
        *len = 0;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

void audit_queue_close(audit_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

uint64_t audit_queue_dropped(audit_queue *q)
{
    pthread_mutex_lock(&q->lock);
    uint64_t n = q->dropped;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t audit_queue_length(audit_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}
