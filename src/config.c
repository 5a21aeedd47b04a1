/* config.c - the settings table and what every source of a value shares:
 * checking and storing one value, the defaults, the cross-checks once all
 * sources are in, config_load and config_free (see config.h).
 *
 * One table (`config_settings[]` below) gives every setting's YAML path, its
 * environment variable (derived from the path), its type, its range and its
 * default, so the file, the environment, the defaults and the error messages
 * can never disagree: a default is applied through config_apply like any
 * value a user writes. Reading the YAML is config_yaml.c, the environment
 * config_env.c, the `serve --check` summary config_describe.c.
 *
 * Secret settings (nats.pass, nats.token) are never quoted in a message and
 * are wiped before their memory is freed; so is the file's text.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "config_int.h"
#include "duration.h"

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

/* A value must leave room for the JSON envelope in a 1 MiB NATS message
 * (nats-server's default max_payload). */
#define VALUE_BYTES_MAX   (MIB - 4 * KIB)
#define REQUEST_BYTES_MAX MIB
#define REQUEST_HEADROOM  (64 * KIB)
#define MAP_SIZE_MIN      MIB
#define MAP_SIZE_MAX      (16 * TIB)
#define INTERVAL_MAX      ((uint64_t)3650 * 86400) /* ten years */
#define HISTORY_MAX       1000                     /* versions kept per key */

/* The one place of every default (docs/configuration.md lists them). */
#define F(field) offsetof(config, field)
const config_setting config_settings[] = {
    {"nats.url", K_URLS, F(nats_url), 0, 0, "nats://127.0.0.1:4222"},
    {"nats.user", K_OPTIONAL, F(nats_user), 0, 0, NULL},
    {"nats.pass", K_SECRET, F(nats_pass), 0, 0, NULL},
    {"nats.token", K_SECRET, F(nats_token), 0, 0, NULL},
    {"nats.creds", K_OPTIONAL, F(nats_creds), 0, 0, NULL},
    {"nats.name", K_STRING, F(nats_name), 0, 0, "vaultctl"},
    {"nats.tls.ca", K_OPTIONAL, F(nats_tls_ca), 0, 0, NULL},
    {"nats.tls.cert", K_OPTIONAL, F(nats_tls_cert), 0, 0, NULL},
    {"nats.tls.key", K_OPTIONAL, F(nats_tls_key), 0, 0, NULL},
    {"encryption.master_key", K_STRING, F(master_key), 0, 0, "/app/config/master.key"},
    {"storage.path", K_STRING, F(storage_path), 0, 0, "/app/data"},
    {"storage.map_size", K_BYTES, F(storage_map_size), MAP_SIZE_MIN, MAP_SIZE_MAX, "1GiB"},
    {"storage.backend", K_STRING, F(storage_backend), 0, 0, "lmdb"},
    {"storage.jetstream.bucket", K_STRING, F(js_bucket), 0, 0, "vaultctl"},
    {"storage.jetstream.replicas", K_INT, F(js_replicas), 1, 5, "3"},
    {"storage.jetstream.lease_ttl", K_DURATION, F(js_lease_ttl_s), 1, 3600, "5s"},
    {"subjects.request", K_SUB_SUBJECT, F(subject_request), 0, 0, "vault.requests"},
    {"subjects.reply", K_PUB_SUBJECT, F(subject_reply), 0, 0, "vault.replies"},
    {"subjects.reply_prefixes", K_PREFIXES, F(reply_prefixes), 0, 0, "_INBOX."},
    {"limits.max_value_bytes", K_BYTES, F(max_value_bytes), 1, VALUE_BYTES_MAX, "256KiB"},
    /* No default: max_value_bytes + REQUEST_HEADROOM (config_cross_check). */
    {"limits.max_request_bytes", K_BYTES, F(max_request_bytes), 1, REQUEST_BYTES_MAX, NULL},
    {"limits.max_json_elements", K_COUNT, F(max_json_elements), 16, 10000000, "4096"},
    {"service.workers", K_INT, F(workers), 1, 256, "4"},
    {"service.queue_max_requests", K_COUNT, F(queue_max_requests), 1, 1000000, "4096"},
    {"service.queue_max_bytes", K_BYTES, F(queue_max_bytes), MIB, 16 * GIB, "64MiB"},
    {"audit.subject", K_AUDIT_SUBJECT, F(audit_subject), 0, 0, "vault.audit"},
    {"audit.mode", K_AUDIT_MODE, F(audit_mode), 0, 0, "best_effort"},
    {"audit.buffer", K_COUNT, F(audit_buffer), 1, MIB, "4096"},
    {"audit.nats.user", K_OPTIONAL, F(audit_nats_user), 0, 0, NULL},
    {"audit.nats.pass", K_SECRET, F(audit_nats_pass), 0, 0, NULL},
    {"audit.nats.token", K_SECRET, F(audit_nats_token), 0, 0, NULL},
    {"audit.nats.creds", K_OPTIONAL, F(audit_nats_creds), 0, 0, NULL},
    {"rotation.interval", K_DURATION, F(rotation_interval_s), 0, INTERVAL_MAX, "off"},
    {"log.requests", K_BOOL, F(log_requests), 0, 0, "false"},
    {"nats_credentials.account", K_OPTIONAL, F(creds_account), 0, 0, NULL},
    {"nats_credentials.signing_key", K_OPTIONAL, F(creds_signing_key), 0, 0, NULL},
    {"nats_credentials.operator_signing_key", K_OPTIONAL, F(creds_operator_key), 0, 0, NULL},
    {"nats_credentials.system_creds", K_OPTIONAL, F(creds_system_creds), 0, 0, NULL},
    {"nats_credentials.account_jwt", K_OPTIONAL, F(creds_account_jwt), 0, 0, NULL},
    {"acl_identity", K_OPTIONAL, F(acl_identity_mode), 0, 0, NULL},
    {"acl_identity_account", K_OPTIONAL, F(acl_identity_account), 0, 0, NULL},
    {"history.max_versions", K_COUNT, F(history_max_versions), 1, HISTORY_MAX, "10"},
    {"tokens.default_ttl", K_DURATION, F(token_default_ttl), 1, INTERVAL_MAX, "1h"},
    {"tokens.max_ttl", K_DURATION, F(token_max_ttl), 1, INTERVAL_MAX, "24h"},
};
#undef F
_Static_assert(sizeof config_settings / sizeof config_settings[0] == CONFIG_N_SETTINGS,
               "CONFIG_N_SETTINGS in config_int.h");

const char *const config_sections[] = {
    "nats",  "encryption", "storage", "subjects", "acl",    "limits",           "service",
    "audit", "rotation",   "log",     "history",  "tokens", "nats_credentials",
};
_Static_assert(sizeof config_sections / sizeof config_sections[0] == CONFIG_N_SECTIONS,
               "CONFIG_N_SECTIONS in config_int.h");

/* ---- small helpers ---------------------------------------------------- */

vc_code config_oom(vc_err *err)
{
    return vc_errf(err, VC_INTERNAL, "configuration: out of memory");
}

/* Wipes and frees a string that may have held a secret. */
static void config_wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

static char *config_dup_len(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

static char **str_slot(config *c, const config_setting *s)
{
    return (char **)(void *)((char *)c + s->off);
}

/* Replaces *slot by a copy of text (NULL text: unset); the old value is
 * wiped because it may be a secret. */
static vc_code set_string(char **slot, const char *text, size_t len, vc_err *err)
{
    char *copy = NULL;
    if (text != NULL && (copy = config_dup_len(text, len)) == NULL)
        return config_oom(err);
    config_wipe_free(*slot);
    *slot = copy;
    return VC_OK;
}

const char *config_quote(char *buf, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    const size_t room = n - 6; /* closing quote, "...", NUL */
    buf[o++] = '"';
    for (size_t i = 0; i < len && o < room; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= CONFIG_QUOTE_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            int w = snprintf(buf + o, n - o, "\\x%02x", ch);
            if (w < 0 || (size_t)w >= n - o)
                break;
            o += (size_t)w;
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *config_fmt_size(char *buf, size_t n, uint64_t v)
{
    static const struct {
        uint64_t unit;
        const char *name;
    } units[] = {
        {TIB, "TiB"},
        {GIB, "GiB"},
        {MIB, "MiB"},
        {KIB, "KiB"},
    };
    int w = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (v >= units[i].unit && v % units[i].unit == 0) {
            w = snprintf(buf, n, "%" PRIu64 " %s", v / units[i].unit, units[i].name);
            break;
        }
    }
    if (w < 0)
        w = snprintf(buf, n, "%" PRIu64 " byte%s", v, v == 1 ? "" : "s");
    if (w < 0 || (size_t)w >= n)
        buf[0] = '\0'; /* cannot happen with the callers' 32-byte buffers */
    return buf;
}

int config_find_setting(const char *name)
{
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++)
        if (strcmp(config_settings[i].name, name) == 0)
            return (int)i;
    return -1;
}

void config_set_origin(config_loader *ld, size_t i, int line, const char *env)
{
    ld->from[i].set = true;
    ld->from[i].line = env != NULL ? 0 : line;
    snprintf(ld->from[i].env, sizeof ld->from[i].env, "%s", env != NULL ? env : "");
}

/* "FILE:LINE: setting" or "environment VAR" for setting i's value. */
static const char *where_of(const config_loader *ld, size_t i, char *buf, size_t n)
{
    const config_origin *o = &ld->from[i];
    int w;
    if (o->env[0] != '\0')
        w = snprintf(buf, n, "environment %s", o->env);
    else
        w = snprintf(buf, n, "%s:%d: %s", ld->file, o->line, config_settings[i].name);
    /* A cut prefix (a very long file name) only shortens the message. */
    (void)w;
    return buf;
}

/* ---- value parsers ---------------------------------------------------- */

/* Plain decimal digits into *out; false on anything else or overflow. */
static bool parse_uint(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool unit_is(const char *u, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(u, name, len) == 0;
}

/* "262144", "64MiB", "64 MiB", "64M", "64MB" (all powers of 1024). */
static bool parse_size(const char *s, size_t len, uint64_t *out)
{
    static const struct {
        const char *a, *b, *c;
        uint64_t mul;
    } units[] = {
        {"B", "B", "B", 1},      {"K", "KB", "KiB", KIB}, {"M", "MB", "MiB", MIB},
        {"G", "GB", "GiB", GIB}, {"T", "TB", "TiB", TIB},
    };
    size_t digits = 0;
    uint64_t v;
    while (digits < len && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (!parse_uint(s, digits, &v))
        return false;
    const char *u = s + digits;
    size_t ulen = len - digits;
    if (ulen > 0 && *u == ' ') {
        u++;
        ulen--;
    }
    if (ulen == 0) {
        *out = v;
        return true;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (unit_is(u, ulen, units[i].a) || unit_is(u, ulen, units[i].b) ||
            unit_is(u, ulen, units[i].c)) {
            if (v > UINT64_MAX / units[i].mul)
                return false;
            *out = v * units[i].mul;
            return true;
        }
    }
    return false;
}

/* "24h", "90m", "3600s", "7d", "1h30m", "3600" (seconds), "0"/"off": the
 * shared syntax (duration.h) plus "off". */
static bool parse_duration(const char *s, size_t len, uint64_t *out)
{
    if (len == 3 && strncasecmp(s, "off", 3) == 0) {
        *out = 0;
        return true;
    }
    return duration_parse(s, len, out);
}

static bool has_wildcard(const char *subject)
{
    const char *p = subject;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (n == 1 && (*p == '*' || *p == '>'))
            return true;
        if (p[n] == '\0')
            return false;
        p += n + 1;
    }
}

/* Every comma-separated entry must be non-empty after trimming blanks. */
static bool urls_valid(const char *s)
{
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t lead = strspn(p, " \t");
        if (lead >= n)
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

/* ---- applying one value ----------------------------------------------- */

const char *config_expectation(const config_setting *s, char *buf, size_t n)
{
    char lo[32], hi[32];
    int w = 0;
    switch (s->kind) {
    case K_STRING:
    case K_OPTIONAL:
    case K_SECRET:
    case K_URLS:
        return "a string";
    case K_SUB_SUBJECT:
    case K_PUB_SUBJECT:
    case K_AUDIT_SUBJECT:
        return "a NATS subject";
    case K_PREFIXES:
        return "a list of subject prefixes ending in '.', such as [\"_INBOX.\"]";
    case K_BYTES:
        w = snprintf(buf, n,
                     "a size in bytes (%s..%s; a number, or with KiB, MiB, "
                     "GiB)",
                     config_fmt_size(lo, sizeof lo, s->min),
                     config_fmt_size(hi, sizeof hi, s->max));
        break;
    case K_COUNT:
    case K_INT:
        w = snprintf(buf, n, "an integer %" PRIu64 "..%" PRIu64, s->min, s->max);
        break;
    case K_AUDIT_MODE:
        return "best_effort or required";
    case K_DURATION:
        return "a duration such as 24h, 90m, 3600s, 7d, 3600 (seconds), "
               "or off";
    case K_BOOL:
        return "true or false";
    }
    if (w < 0 || (size_t)w >= n)
        return "a number";
    return buf;
}

/* Whether list is one or more comma-separated subject prefixes, each
 * a valid literal subject followed by '.' ("_INBOX.", "_R_.vault."). */
static bool prefixes_valid(const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        char tok[256];
        if (n < 2 || n >= sizeof tok || p[n - 1] != '.')
            return false;
        memcpy(tok, p, n - 1);
        tok[n - 1] = '\0';
        if (!acl_subject_valid(tok) || has_wildcard(tok))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

vc_code config_apply(config_loader *ld, size_t i, const char *text, size_t len, const char *where)
{
    const config_setting *s = &config_settings[i];
    config *c = ld->c;
    vc_err *err = ld->err;
    char q[CONFIG_QUOTE_BUF], ex[128];
    uint64_t v = 0;

    if (text == NULL || memchr(text, '\0', len) != NULL)
        return vc_errf(err, VC_CONFIG, "%s: invalid: contains a NUL byte", where);

    switch (s->kind) {
    case K_SECRET:
    case K_OPTIONAL:
        return set_string(str_slot(c, s), len > 0 ? text : NULL, len, err);
    case K_PREFIXES: {
        char *copy = config_dup_len(text, len);
        if (copy == NULL)
            return config_oom(err);
        if (!prefixes_valid(copy)) {
            vc_code rc =
                vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                        config_expectation(s, ex, sizeof ex), config_quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        config_wipe_free(*str_slot(c, s));
        *str_slot(c, s) = copy;
        return VC_OK;
    }
    case K_STRING:
    case K_URLS:
    case K_SUB_SUBJECT:
    case K_PUB_SUBJECT:
    case K_AUDIT_SUBJECT: {
        char *copy;
        vc_code rc;
        if (len == 0 && s->kind != K_AUDIT_SUBJECT)
            return vc_errf(err, VC_CONFIG, "%s: must not be empty", where);
        if ((copy = config_dup_len(text, len)) == NULL)
            return config_oom(err);
        if (s->kind == K_URLS && !urls_valid(copy)) {
            free(copy);
            return vc_errf(err, VC_CONFIG,
                           "%s: a server URL in the comma-separated list "
                           "is empty",
                           where);
        }
        if ((s->kind == K_SUB_SUBJECT || s->kind == K_PUB_SUBJECT ||
             (s->kind == K_AUDIT_SUBJECT && len > 0)) &&
            !acl_subject_valid(copy)) {
            rc = vc_errf(err, VC_CONFIG, "%s: not a valid NATS subject: %s", where,
                         config_quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        if (s->kind != K_SUB_SUBJECT && len > 0 && has_wildcard(copy)) {
            rc = vc_errf(err, VC_CONFIG,
                         "%s: vaultctl publishes here, so it must be a "
                         "subject without wildcards, got %s",
                         where, config_quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        config_wipe_free(*str_slot(c, s));
        *str_slot(c, s) = copy;
        return VC_OK;
    }
    case K_BYTES:
    case K_COUNT:
    case K_INT: {
        bool ok = s->kind == K_BYTES ? parse_size(text, len, &v) : parse_uint(text, len, &v);
        if (!ok || v < s->min || v > s->max)
            return vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                           config_expectation(s, ex, sizeof ex),
                           config_quote(q, sizeof q, text, len));
        if (s->kind == K_INT)
            *(int *)(void *)((char *)c + s->off) = (int)v;
        else
            *(size_t *)(void *)((char *)c + s->off) = (size_t)v;
        return VC_OK;
    }
    case K_AUDIT_MODE:
        if (len == 11 && memcmp(text, "best_effort", 11) == 0)
            c->audit_mode = AUDIT_BEST_EFFORT;
        else if (len == 8 && memcmp(text, "required", 8) == 0)
            c->audit_mode = AUDIT_REQUIRED;
        else
            return vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                           config_expectation(s, ex, sizeof ex),
                           config_quote(q, sizeof q, text, len));
        return VC_OK;
    case K_DURATION:
        if (!parse_duration(text, len, &v) || v > s->max)
            return vc_errf(err, VC_CONFIG,
                           "%s: expected %s (at most 3650d), "
                           "got %s",
                           where, config_expectation(s, ex, sizeof ex),
                           config_quote(q, sizeof q, text, len));
        *(int64_t *)(void *)((char *)c + s->off) = (int64_t)v;
        return VC_OK;
    case K_BOOL:
        if ((len == 4 && memcmp(text, "true", 4) == 0) ||
            (len == 5 && memcmp(text, "false", 5) == 0))
            *(bool *)(void *)((char *)c + s->off) = len == 4;
        else
            return vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                           config_expectation(s, ex, sizeof ex),
                           config_quote(q, sizeof q, text, len));
        return VC_OK;
    }
    return vc_errf(err, VC_INTERNAL, "%s: unhandled setting kind", where);
}

/* ---- after both sources ----------------------------------------------- */

/* Setting a (a string setting) given without setting b is an error. */
static vc_code needs(config_loader *ld, const char *a, const char *b)
{
    char where[CONFIG_WHERE_MAX];
    const size_t i = (size_t)config_find_setting(a), j = (size_t)config_find_setting(b);
    if (*str_slot(ld->c, &config_settings[i]) != NULL &&
        *str_slot(ld->c, &config_settings[j]) == NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s: set without %s",
                       where_of(ld, i, where, sizeof where), b);
    return VC_OK;
}

/* storage.backend is lmdb or jetstream; the bucket a KV bucket name
 * (letters, digits, '-', '_'), as it becomes part of subjects. */
static vc_code storage_check(config_loader *ld)
{
    const config *c = ld->c;
    char where[CONFIG_WHERE_MAX];
    const size_t be = (size_t)config_find_setting("storage.backend"),
                 bk = (size_t)config_find_setting("storage.jetstream.bucket"),
                 ttl = (size_t)config_find_setting("storage.jetstream.lease_ttl");

    if (strcmp(c->storage_backend, "lmdb") != 0 && strcmp(c->storage_backend, "jetstream") != 0)
        return vc_errf(ld->err, VC_CONFIG, "%s: expected lmdb or jetstream",
                       where_of(ld, be, where, sizeof where));
    if (strlen(c->js_bucket) > 48 ||
        strspn(c->js_bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-_") != strlen(c->js_bucket))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: expected a bucket name of at most 48 letters, digits, '-' or '_'",
                       where_of(ld, bk, where, sizeof where));
    if (c->js_lease_ttl_s < 1)
        return vc_errf(ld->err, VC_CONFIG, "%s: expected a duration of 1s or more",
                       where_of(ld, ttl, where, sizeof where));
    return VC_OK;
}

/* The checks between settings, once every source is in. */
static vc_code cross_check(config_loader *ld)
{
    config *c = ld->c;
    char where[CONFIG_WHERE_MAX];
    vc_code rc;
    const size_t token = (size_t)config_find_setting("nats.token"),
                 creds = (size_t)config_find_setting("nats.creds"),
                 req = (size_t)config_find_setting("limits.max_request_bytes");

    if (!ld->from[req].set) {
        uint64_t r = (uint64_t)c->max_value_bytes + REQUEST_HEADROOM;
        c->max_request_bytes = (size_t)(r > REQUEST_BYTES_MAX ? REQUEST_BYTES_MAX : r);
    } else if (c->max_request_bytes < c->max_value_bytes) {
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: must be at least limits.max_value_bytes (%zu), "
                       "got %zu",
                       where_of(ld, req, where, sizeof where), c->max_value_bytes,
                       c->max_request_bytes);
    }
    if ((rc = needs(ld, "nats.user", "nats.pass")) != VC_OK ||
        (rc = needs(ld, "nats.pass", "nats.user")) != VC_OK)
        return rc;
    if (c->nats_token != NULL && c->nats_user != NULL)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: cannot be used together with nats.user and "
                       "nats.pass; choose one way to log in",
                       where_of(ld, token, where, sizeof where));
    if (c->nats_creds != NULL && (c->nats_user != NULL || c->nats_token != NULL))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: cannot be used together with %s; choose one way "
                       "to log in",
                       where_of(ld, creds, where, sizeof where),
                       c->nats_user ? "nats.user and nats.pass" : "nats.token");
    if ((rc = needs(ld, "audit.nats.user", "audit.nats.pass")) != VC_OK ||
        (rc = needs(ld, "audit.nats.pass", "audit.nats.user")) != VC_OK)
        return rc;
    if ((c->audit_nats_user != NULL) + (c->audit_nats_token != NULL) +
            (c->audit_nats_creds != NULL) >
        1)
        return vc_errf(ld->err, VC_CONFIG,
                       "audit.nats: set only one of user and pass, token, or creds");
    if ((rc = storage_check(ld)) != VC_OK)
        return rc;
    if ((rc = needs(ld, "nats.tls.cert", "nats.tls.key")) != VC_OK ||
        (rc = needs(ld, "nats.tls.key", "nats.tls.cert")) != VC_OK)
        return rc;
    if ((rc = config_creds_check(ld)) != VC_OK)
        return rc;
    return config_identity_check(ld);
}

/* Every setting with a default in the table gets it, through config_apply
 * like a value from the file. */
static vc_code set_defaults(config_loader *ld, const char *name)
{
    char where[CONFIG_NAME_MAX + 16];
    if ((ld->c->file = strdup(name)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
        const config_setting *s = &config_settings[i];
        if (s->def == NULL)
            continue;
        int w = snprintf(where, sizeof where, "default of %s", s->name);
        (void)w; /* fits: the names are short and fixed */
        vc_code rc = config_apply(ld, i, s->def, strlen(s->def), where);
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

/* ---- public ----------------------------------------------------------- */

vc_code config_load_string(config **out, const char *name, const char *yaml, size_t len,
                           char *const *envp, vc_err *err)
{
    config_loader *ld = NULL;
    config *c = NULL;
    vc_code rc;

    *out = NULL;
    if (name == NULL)
        name = "(config)";
    if ((c = calloc(1, sizeof *c)) == NULL || (ld = calloc(1, sizeof *ld)) == NULL) {
        rc = config_oom(err);
        goto fail;
    }
    ld->c = c;
    ld->file = name;
    ld->text = yaml != NULL ? yaml : "";
    ld->text_len = yaml != NULL ? len : 0;
    ld->err = err;
    if ((rc = set_defaults(ld, name)) != VC_OK)
        goto fail;
    if ((rc = config_load_yaml(ld)) != VC_OK)
        goto fail;
    if ((rc = config_apply_env(ld, envp)) != VC_OK)
        goto fail;
    if ((rc = cross_check(ld)) != VC_OK)
        goto fail;
    free(ld);
    *out = c;
    return VC_OK;
fail:
    free(ld);
    config_free(c);
    return rc;
}

vc_code config_load(config **out, const char *path, char *const *envp, vc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    vc_code rc;

    *out = NULL;
    if (path == NULL) {
        path = config_env_get(envp, "VAULTCTL_CONFIG");
        if (path == NULL || path[0] == '\0')
            path = CONFIG_DEFAULT_PATH;
    }
    if ((rc = config_read_file(path, &text, &len, err)) != VC_OK)
        return rc;
    rc = config_load_string(out, path, text, len, envp, err);
    sodium_memzero(text, len);
    free(text);
    return rc;
}

void config_free(config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
        const config_setting *s = &config_settings[i];
        if (s->kind <= K_AUDIT_SUBJECT) /* the char * kinds come first */
            config_wipe_free(*str_slot(c, s));
    }
    config_creds_free(c);
    config_identity_free(c);
    for (size_t i = 0; i < c->acl_count; i++) {
        free((char *)c->acl[i].subject); /* owned: acl_rule's const is for readers */
        for (size_t j = 0; j < c->acl[i].nkeys; j++)
            free(c->acl[i].keys[j]);
        free(c->acl[i].keys);
    }
    free(c->acl);
    free(c->file);
    free(c);
}
