/* audit.c - audit event JSON and the bounded event queue (see audit.h). */
#include "audit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct audit_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char **events; /* ring of capacity slots */
    size_t *lens;
    size_t capacity, head, count;
    bool closed;
    uint64_t dropped;
};

/* ---- events ------------------------------------------------------------- */

void audit_time(int64_t unix_ms, char out[32])
{
    /* Floor division, so a (theoretical) negative time still formats. */
    int64_t sec = unix_ms / 1000, ms = unix_ms % 1000;
    struct tm tm;
    char day[24];

    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        (void)snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    int n = snprintf(out, 32, "%s.%03dZ", day, (int)ms);
    if (n < 0 || n >= 32)
        (void)snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

/* A JSON string of s; jansson refuses invalid UTF-8, and NATS subjects are
 * bytes, so such a subject is written with its high bytes as '?' rather
 * than losing the event. */
static json_t *subject_string(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* json_object_set_new that reports a NULL value (out of memory). */
static bool put(json_t *o, const char *name, json_t *v)
{
    return v != NULL && json_object_set_new(o, name, v) == 0;
}

char *audit_event_json(const audit_event *ev, size_t *len)
{
    char when[32], mac[sizeof AUDIT_HMAC_PREFIX + 64];
    json_t *o = json_object();
    char *out = NULL;
    bool ok = o != NULL;

    audit_time(ev->time_ms, when);
    ok = ok && put(o, "type", json_string(AUDIT_EVENT_TYPE));
    ok = ok && put(o, "time", json_string(when));
    if (ev->instance != NULL)
        ok = ok && put(o, "instance", json_string(ev->instance));
    ok = ok && put(o, "subject", subject_string(ev->subject ? ev->subject : ""));
    ok = ok && put(o, "operation", json_string(op_name(ev->op)));
    ok = ok && put(o, "outcome",
                   json_string(ev->outcome == VC_OK ? "success" : vc_code_name(ev->outcome)));
    ok = ok && put(o, "latency_us", json_integer((json_int_t)ev->latency_us));
    if (ok && ev->key_hash != NULL && ev->key_hash[0] != '\0') {
        int n = snprintf(mac, sizeof mac, "%s%s", AUDIT_HMAC_PREFIX, ev->key_hash);
        /* A hash that does not fit is not one of ours: leave it out rather
         * than write a truncated one. */
        if (n > 0 && (size_t)n < sizeof mac)
            ok = put(o, "key_hmac", json_string(mac));
    }
    if (ok)
        out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (out != NULL && len != NULL)
        *len = strlen(out);
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
    if (pthread_cond_init(&q->cond, NULL) != 0) {
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
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->cond, &q->lock);
    ok = q->count > 0;
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
