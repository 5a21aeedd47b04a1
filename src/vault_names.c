/* vault_names.c - vault_list: a sorted in-memory cache of every record's
 * name, rebuilt (by opening every record) when META "gen" or "epoch" shows
 * that the records or the keyring changed, and paged by prefix and cursor.
 * A damaged record is left out of the cache, counted, and logged once per
 * rebuild by its record hash. Each name keeps its expiry: a page leaves out
 * the names expired at the time of the request (the sweep removes them
 * from the store later).
 */
#include "vault_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* A cached name. */
struct vnames_entry {
    char *s; /* malloc'd, NUL-terminated */
    size_t len;
    int64_t expires_at; /* 0: never; an expired name is left out of pages */
};

typedef struct vnames_entry name_ent;

static void name_ents_free(name_ent *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i].s);
    free(names);
}

void vnames_free(vault *v)
{
    name_ents_free(v->names, v->n_names);
    v->names = NULL;
    v->n_names = 0;
    v->list_skipped = 0;
    v->list_valid = false;
}

typedef struct {
    vault *v;
    store_txn *t;
    vkr_ref *kr;
    name_ent *names;
    size_t n, cap;
    uint64_t skipped;
    vc_code rc;
    vc_err *err;
} scan_names;

static int collect_name(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *val,
                        size_t val_len)
{
    scan_names *c = ctx;
    uint8_t *pt = NULL;
    const uint8_t *name, *value;
    size_t pt_len = 0, nlen, vlen;
    vrec_hdr h;
    bool hdr_ok;
    vault_damage why;
    char *s;

    c->rc = vrec_inspect(c->v, c->t, c->kr, key, key_len, val, val_len, &h, &hdr_ok, &pt, &pt_len,
                         &why, c->err);
    if (c->rc != VC_OK)
        return (int)c->rc;
    if (why != VAULT_RECORD_SOUND) {
        char hex[VREC_HEX_MAX];
        vrec_hex(key, key_len, hex);
        log_warn("list: record %s is damaged (%s), left out of the listing; vaultctl verify "
                 "lists every damaged record",
                 hex, vault_damage_code(why));
        c->skipped++;
        return 0;
    }
    vrec_pt_split(pt, pt_len, &name, &nlen, &value, &vlen);
    s = malloc(nlen + 1);
    if (s != NULL) {
        memcpy(s, name, nlen);
        s[nlen] = '\0';
    }
    vrec_pt_free(pt, pt_len);
    if (s == NULL)
        goto no_memory;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        name_ent *grown = realloc(c->names, cap * sizeof *grown);
        if (grown == NULL) {
            free(s);
            goto no_memory;
        }
        c->names = grown;
        c->cap = cap;
    }
    c->names[c->n].s = s;
    c->names[c->n].len = nlen;
    c->names[c->n].expires_at = h.expires_at;
    c->n++;
    return 0;
no_memory:
    c->rc = vc_errf(c->err, VC_INTERNAL, "out of memory");
    return (int)c->rc;
}

/* bytewise order, a proper prefix first */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    if (r != 0)
        return r;
    return (alen > blen) - (alen < blen);
}

static int name_ent_cmp(const void *a, const void *b)
{
    const name_ent *x = a, *y = b;
    return name_cmp(x->s, x->len, y->s, y->len);
}

/* Re-reads every name from t into the cache (list_mu held). */
static vc_code names_rebuild(vault *v, store_txn *t, uint64_t gen, uint64_t epoch, vc_err *err)
{
    vkr_ref kr = {NULL, false};
    scan_names c;
    vc_code rc;

    memset(&c, 0, sizeof c);
    vnames_free(v);
    if ((rc = vkr_acquire(v, t, &kr, err)) != VC_OK)
        return rc;
    c.v = v;
    c.t = t;
    c.kr = &kr;
    c.err = err;
    rc = store_scan(t, STORE_RECORDS, NULL, 0, collect_name, &c, err);
    vkr_release(v, &kr);
    if (rc == VC_OK && c.rc != VC_OK)
        rc = c.rc;
    if (rc != VC_OK) {
        name_ents_free(c.names, c.n);
        return rc;
    }
    if (c.n > 1)
        qsort(c.names, c.n, sizeof *c.names, name_ent_cmp);
    v->names = c.names;
    v->n_names = c.n;
    v->list_skipped = c.skipped;
    v->list_gen = gen;
    v->list_epoch = epoch;
    v->list_valid = true;
    return VC_OK;
}

/* first index whose name is >= key (strict: > key) */
static size_t names_bound(const vault *v, const char *key, size_t len, bool strict)
{
    size_t lo = 0, hi = v->n_names;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = name_cmp(v->names[mid].s, v->names[mid].len, key, len);
        if (r < 0 || (strict && r == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool has_prefix(const name_ent *e, const char *prefix, size_t len)
{
    return e->len >= len && memcmp(e->s, prefix, len) == 0;
}

static bool live(const name_ent *e, int64_t now)
{
    return e->expires_at == 0 || e->expires_at > now;
}

/* Copies the requested page out of the cache (list_mu held), leaving out
 * the names expired at now. */
static vc_code names_page(vault *v, const char *prefix, size_t prefix_len, const char *after,
                          size_t after_len, size_t limit, int64_t now, char ***names, size_t *count,
                          bool *more, vc_err *err)
{
    size_t start = names_bound(v, prefix, prefix_len, false);
    size_t end, n = 0, taken = 0;
    char **out;

    if (after != NULL) {
        size_t a = names_bound(v, after, after_len, true);
        if (a > start)
            start = a;
    }
    end = start;
    while (end < v->n_names && has_prefix(&v->names[end], prefix, prefix_len) &&
           (limit == 0 || taken < limit)) {
        if (live(&v->names[end], now))
            taken++;
        end++;
    }
    /* more: a live name with the prefix remains after the page */
    *more = false;
    for (size_t i = end; i < v->n_names && has_prefix(&v->names[i], prefix, prefix_len); i++)
        if (live(&v->names[i], now)) {
            *more = true;
            break;
        }
    out = calloc(taken + 1, sizeof *out);
    if (out == NULL)
        return vc_errf(err, VC_INTERNAL, "out of memory");
    for (size_t i = start; i < end; i++) {
        if (!live(&v->names[i], now))
            continue;
        out[n] = strdup(v->names[i].s);
        if (out[n] == NULL) {
            vault_names_free(out, n);
            return vc_errf(err, VC_INTERNAL, "out of memory");
        }
        n++;
    }
    *names = out;
    *count = n;
    return VC_OK;
}

vc_code vault_list(vault *v, const char *prefix, size_t prefix_len, const char *after,
                   size_t after_len, size_t limit, char ***names, size_t *count, bool *more,
                   uint64_t *skipped, vc_err *err)
{
    store_txn *t = NULL;
    uint64_t gen = 0, epoch = 0;
    vc_code rc;

    *names = NULL;
    *count = 0;
    *more = false;
    if (skipped != NULL)
        *skipped = 0;
    if (prefix == NULL)
        prefix_len = 0;
    if ((rc = store_begin(v->st, false, &t, err)) != VC_OK)
        return rc;
    if ((rc = vkr_meta_get_u64(t, VAULT_META_GEN, 0, &gen, err)) != VC_OK ||
        (rc = vkr_meta_get_u64(t, VAULT_META_EPOCH, 0, &epoch, err)) != VC_OK) {
        store_abort(t);
        return rc;
    }
    pthread_mutex_lock(&v->list_mu);
    if (!v->list_valid || v->list_gen != gen || v->list_epoch != epoch)
        rc = names_rebuild(v, t, gen, epoch, err);
    if (rc == VC_OK)
        rc = names_page(v, prefix ? prefix : "", prefix_len, after, after_len, limit,
                        (int64_t)time(NULL), names, count, more, err);
    if (rc == VC_OK && skipped != NULL)
        *skipped = v->list_skipped;
    pthread_mutex_unlock(&v->list_mu);
    store_abort(t);
    return rc;
}

void vault_names_free(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
