/* discovery.c - NATS service API responses (see discovery.h). */
#include "discovery.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jalloc.h"
#include "timefmt.h"

typedef struct {
    char *name;
    char *subject;
    char *queue_group;
    uint64_t num_requests;
    uint64_t num_errors;
    int64_t processing_ns;
    char last_error[256];
} disc_endpoint;

struct disc {
    char id[DISC_ID_LEN + 1];
    const char *version;
    const char *description;
    char started[TIMEFMT_RFC3339_LEN]; /* RFC 3339 with nanoseconds */
    pthread_mutex_t lock;
    disc_endpoint *eps;
    int neps;
};

static void make_id(char out[DISC_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < DISC_ID_LEN; i++)
        out[i] = alphabet[randombytes_uniform((uint32_t)(sizeof alphabet - 1))];
    out[DISC_ID_LEN] = '\0';
}

disc *disc_create(const char *version, const char *description)
{
    disc *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    if (sodium_init() < 0) {
        free(d);
        return NULL;
    }
    make_id(d->id);
    d->version = version;
    d->description = description;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    timefmt_rfc3339_ns((int64_t)now.tv_sec, now.tv_nsec, d->started);
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void disc_free(disc *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i < d->neps; i++) {
        free(d->eps[i].name);
        free(d->eps[i].subject);
        free(d->eps[i].queue_group);
    }
    free(d->eps);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

const char *disc_id(const disc *d)
{
    return d->id;
}

int disc_add_endpoint(disc *d, const char *name, const char *subject, const char *queue_group)
{
    disc_endpoint *grown = realloc(d->eps, sizeof *grown * (size_t)(d->neps + 1));
    if (grown == NULL)
        return -1;
    d->eps = grown;
    disc_endpoint *e = &d->eps[d->neps];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->subject = strdup(subject);
    e->queue_group = strdup(queue_group);
    if (e->name == NULL || e->subject == NULL || e->queue_group == NULL) {
        free(e->name);
        free(e->subject);
        free(e->queue_group);
        return -1;
    }
    return d->neps++;
}

void disc_record(disc *d, int idx, int64_t ns, const char *error)
{
    if (idx < 0 || idx >= d->neps)
        return;
    pthread_mutex_lock(&d->lock);
    disc_endpoint *e = &d->eps[idx];
    e->num_requests++;
    e->processing_ns += ns;
    if (error != NULL) {
        e->num_errors++;
        (void)snprintf(e->last_error, sizeof e->last_error, "%s", error);
    }
    pthread_mutex_unlock(&d->lock);
}

void disc_totals(disc *d, uint64_t *requests, uint64_t *errors)
{
    uint64_t r = 0, e = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->neps; i++) {
        r += d->eps[i].num_requests;
        e += d->eps[i].num_errors;
    }
    pthread_mutex_unlock(&d->lock);
    *requests = r;
    *errors = e;
}

/* The fields every response carries: type, name, id, version, metadata. */
static json_t *base_object(const disc *d, const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:{}}", "type", type, "name", DISC_NAME, "id", d->id,
                     "version", d->version, "metadata");
}

/* Serialises o compactly into malloc'd memory (o is consumed). */
static char *dump(json_t *o, size_t *len)
{
    char *s = jalloc_dumps(o, JSON_COMPACT, len);
    json_decref(o);
    return s;
}

char *disc_ping_json(disc *d, size_t *len)
{
    return dump(base_object(d, "io.nats.micro.v1.ping_response"), len);
}

char *disc_info_json(disc *d, size_t *len)
{
    json_t *o = base_object(d, "io.nats.micro.v1.info_response");
    json_t *eps = json_array();
    if (o == NULL || eps == NULL) {
        json_decref(o);
        json_decref(eps);
        return NULL;
    }
    for (int i = 0; i < d->neps; i++) {
        const disc_endpoint *e = &d->eps[i];
        json_array_append_new(eps,
                              json_pack("{s:s, s:s, s:s, s:{}}", "name", e->name, "subject",
                                        e->subject, "queue_group", e->queue_group, "metadata"));
    }
    json_object_set_new(o, "description", json_string(d->description));
    json_object_set_new(o, "endpoints", eps);
    return dump(o, len);
}

char *disc_stats_json(disc *d, size_t *len)
{
    json_t *o = base_object(d, "io.nats.micro.v1.stats_response");
    json_t *eps = json_array();
    if (o == NULL || eps == NULL) {
        json_decref(o);
        json_decref(eps);
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->neps; i++) {
        const disc_endpoint *e = &d->eps[i];
        int64_t avg = e->num_requests ? e->processing_ns / (int64_t)e->num_requests : 0;
        json_array_append_new(eps,
                              json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I}", "name", e->name,
                                        "subject", e->subject, "queue_group", e->queue_group,
                                        "num_requests", (json_int_t)e->num_requests, "num_errors",
                                        (json_int_t)e->num_errors, "last_error", e->last_error,
                                        "processing_time", (json_int_t)e->processing_ns,
                                        "average_processing_time", (json_int_t)avg));
    }
    pthread_mutex_unlock(&d->lock);
    json_object_set_new(o, "started", json_string(d->started));
    json_object_set_new(o, "endpoints", eps);
    return dump(o, len);
}
