/* store_js_wal.c - the JetStream backend's bytes (see store_js.h): write
 * sets, the WAL message codec, KV keys of table entries, and applying one
 * stream message to the local cache. No NATS here.
 *
 * WAL body: "VCW1", u32 LE count, then per entry: u8 op (1 put, 2 delete),
 * u8 table, u32 LE key length, key, u32 LE value length, value (0 for a
 * delete). Values are sealed records already; the WAL adds nothing secret.
 */
#include "store_js.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define WAL_MAGIC     "VCW1"
#define WAL_MAGIC_LEN 4
#define WAL_OP_PUT    1
#define WAL_OP_DEL    2
#define KEY_MAX_BYTES 511 /* store keys are hashes or short META names */

static const char *const kv_tables[STORE_N_TABLES] = {"meta", "records", "history", "expiry",
                                                      "tokens"};

struct sjs_wset {
    sjs_entry *e;
    size_t n, cap;
};

sjs_wset *sjs_wset_new(void)
{
    return calloc(1, sizeof(sjs_wset));
}

void sjs_wset_free(sjs_wset *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        sodium_memzero(w->e[i].key, w->e[i].key_len + w->e[i].val_len);
        free(w->e[i].key);
    }
    free(w->e);
    free(w);
}

bool sjs_wset_add(sjs_wset *w, store_table tbl, const uint8_t *key, size_t key_len,
                  const uint8_t *val, size_t val_len)
{
    uint8_t *buf;

    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        sjs_entry *g = realloc(w->e, cap * sizeof *g);
        if (g == NULL)
            return false;
        w->e = g;
        w->cap = cap;
    }
    if (val == NULL)
        val_len = 0;
    buf = malloc(key_len + val_len + 1);
    if (buf == NULL)
        return false;
    memcpy(buf, key, key_len);
    if (val_len > 0)
        memcpy(buf + key_len, val, val_len);
    w->e[w->n] = (sjs_entry){.tbl = tbl,
                             .del = val == NULL,
                             .key = buf,
                             .key_len = key_len,
                             .val = buf + key_len,
                             .val_len = val_len};
    w->n++;
    return true;
}

size_t sjs_wset_count(const sjs_wset *w)
{
    return w->n;
}

const sjs_entry *sjs_wset_entry(const sjs_wset *w, size_t i)
{
    return &w->e[i];
}

static void put_u32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint8_t *sjs_wal_encode(const sjs_wset *w, size_t *len)
{
    size_t total = WAL_MAGIC_LEN + 4, off;
    uint8_t *buf;

    for (size_t i = 0; i < w->n; i++)
        total += 2 + 4 + w->e[i].key_len + 4 + w->e[i].val_len;
    buf = malloc(total);
    if (buf == NULL)
        return NULL;
    memcpy(buf, WAL_MAGIC, WAL_MAGIC_LEN);
    put_u32(buf + WAL_MAGIC_LEN, (uint32_t)w->n);
    off = WAL_MAGIC_LEN + 4;
    for (size_t i = 0; i < w->n; i++) {
        const sjs_entry *e = &w->e[i];
        buf[off++] = e->del ? WAL_OP_DEL : WAL_OP_PUT;
        buf[off++] = (uint8_t)e->tbl;
        put_u32(buf + off, (uint32_t)e->key_len);
        off += 4;
        memcpy(buf + off, e->key, e->key_len);
        off += e->key_len;
        put_u32(buf + off, (uint32_t)e->val_len);
        off += 4;
        if (e->val_len > 0)
            memcpy(buf + off, e->val, e->val_len);
        off += e->val_len;
    }
    *len = total;
    return buf;
}

sjs_wset *sjs_wal_decode(const uint8_t *buf, size_t len)
{
    sjs_wset *w;
    size_t off = WAL_MAGIC_LEN + 4;
    uint32_t n;

    if (len < off || memcmp(buf, WAL_MAGIC, WAL_MAGIC_LEN) != 0)
        return NULL;
    n = get_u32(buf + WAL_MAGIC_LEN);
    if ((w = sjs_wset_new()) == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t op, tbl;
        size_t kl, vl;
        const uint8_t *k;

        if (len - off < 6)
            goto bad;
        op = buf[off];
        tbl = buf[off + 1];
        kl = get_u32(buf + off + 2);
        off += 6;
        if ((op != WAL_OP_PUT && op != WAL_OP_DEL) || tbl >= STORE_N_TABLES || kl > len - off ||
            len - off - kl < 4)
            goto bad;
        k = buf + off;
        off += kl;
        vl = get_u32(buf + off);
        off += 4;
        if (vl > len - off)
            goto bad;
        if (!sjs_wset_add(w, (store_table)tbl, k, kl, op == WAL_OP_PUT ? buf + off : NULL, vl))
            goto bad;
        off += vl;
    }
    if (off != len)
        goto bad;
    return w;
bad:
    sjs_wset_free(w);
    return NULL;
}

bool sjs_entry_key(store_table tbl, const uint8_t *key, size_t key_len, char *out, size_t cap)
{
    size_t tl;

    if ((int)tbl < 0 || tbl >= STORE_N_TABLES || key_len == 0 || key_len > KEY_MAX_BYTES)
        return false;
    tl = strlen(kv_tables[tbl]);
    if (cap < tl + 1 + 2 * key_len + 1)
        return false;
    memcpy(out, kv_tables[tbl], tl);
    out[tl] = '.';
    sodium_bin2hex(out + tl + 1, cap - tl - 1, key, key_len);
    return true;
}

sjs_msg_kind sjs_msg_kind_of(const char *kv_key)
{
    if (strcmp(kv_key, "_wal") == 0)
        return SJS_MSG_WAL;
    if (strcmp(kv_key, "_lease") == 0)
        return SJS_MSG_LEASE;
    for (size_t i = 0; i < STORE_N_TABLES; i++) {
        size_t tl = strlen(kv_tables[i]);
        if (strncmp(kv_key, kv_tables[i], tl) == 0 && kv_key[tl] == '.')
            return SJS_MSG_ENTRY;
    }
    return SJS_MSG_OTHER;
}

/* A put or delete on the cache; deleting what is not there is fine (a
 * replay applies a delete twice). */
static vc_code apply_entry(slmdb_txn *t, store_table tbl, const uint8_t *key, size_t key_len,
                           const uint8_t *val, size_t val_len, bool del, vc_err *err)
{
    vc_code rc;

    if (!del)
        return slmdb_put(t, tbl, key, key_len, val, val_len, err);
    rc = slmdb_del(t, tbl, key, key_len, err);
    return rc == VC_NOT_FOUND ? VC_OK : rc;
}

static vc_code apply_kv_entry(slmdb_txn *t, const char *kv_key, const uint8_t *data, size_t len,
                              bool del, vc_err *err)
{
    uint8_t key[KEY_MAX_BYTES + 1];
    size_t key_len = 0;

    for (size_t i = 0; i < STORE_N_TABLES; i++) {
        size_t tl = strlen(kv_tables[i]);
        const char *hex;

        if (strncmp(kv_key, kv_tables[i], tl) != 0 || kv_key[tl] != '.')
            continue;
        hex = kv_key + tl + 1;
        if (sodium_hex2bin(key, sizeof key, hex, strlen(hex), NULL, &key_len, NULL) != 0 ||
            key_len == 0)
            return vc_errf(err, VC_INTERNAL, "jetstream: malformed key in the stream");
        return apply_entry(t, (store_table)i, key, key_len, data, len, del, err);
    }
    return VC_OK;
}

vc_code sjs_apply(slmdb_txn *t, const char *kv_key, const uint8_t *data, size_t len, bool del,
                  vc_err *err)
{
    sjs_wset *w;
    vc_code rc = VC_OK;

    switch (sjs_msg_kind_of(kv_key)) {
    case SJS_MSG_ENTRY:
        return apply_kv_entry(t, kv_key, data, len, del, err);
    case SJS_MSG_WAL:
        if (del)
            return VC_OK;
        w = sjs_wal_decode(data, len);
        if (w == NULL)
            return vc_errf(err, VC_INTERNAL, "jetstream: malformed WAL message in the stream");
        for (size_t i = 0; rc == VC_OK && i < w->n; i++) {
            const sjs_entry *e = &w->e[i];
            rc = apply_entry(t, e->tbl, e->key, e->key_len, e->val, e->val_len, e->del, err);
        }
        sjs_wset_free(w);
        return rc;
    default:
        return VC_OK;
    }
}
