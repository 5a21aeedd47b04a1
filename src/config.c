/* config.c - the YAML configuration, its defaults and environment overrides
 * (see config.h).
 *
 * The file is read with libyaml's document API and then walked against one
 * table of settings (`settings[]` below): the same table gives every
 * setting's YAML path, its environment variable, its type and its range, so
 * the file, the environment and the error messages can never disagree. The
 * ACL is the one structured setting and has its own small walker.
 *
 * Secret settings (nats.pass, nats.token) are never quoted in a message and
 * are wiped before their memory is freed; so are libyaml's copies of the
 * text (its buffers and the document's scalars) and our own file buffers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <yaml.h>

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

/* A "configuration" bigger than this is the wrong file. */
#define CONFIG_FILE_MAX MIB
/* A password or token file bigger than this is the wrong file. */
#define SECRET_FILE_MAX (64 * KIB)
/* A value must leave room for the JSON envelope in a 1 MiB NATS message
 * (nats-server's default max_payload). */
#define VALUE_BYTES_MAX   (MIB - 4 * KIB)
#define REQUEST_BYTES_MAX MIB
#define REQUEST_HEADROOM  (64 * KIB)
#define MAP_SIZE_MIN      MIB
#define MAP_SIZE_MAX      (16 * TIB)
#define INTERVAL_MAX      ((uint64_t)3650 * 86400) /* ten years */

#define ENV_PREFIX   "VAULTCTL_"
#define NAME_MAX_LEN 96  /* longest dotted setting name we build */
#define WHERE_MAX    768 /* "FILE:LINE: setting" or "environment VAR" */
#define QUOTE_MAX    64  /* a quoted user value is cut after this many bytes */

/* How the text of a setting is checked and where it is stored. */
typedef enum {
    K_STRING,        /* char *, required, not empty */
    K_OPTIONAL,      /* char *, empty or null: unset (NULL) */
    K_SECRET,        /* like K_OPTIONAL, never shown, wiped; has _FILE */
    K_URLS,          /* char *, comma-separated server URLs */
    K_SUB_SUBJECT,   /* char *, NATS subject we subscribe to: wildcards ok */
    K_PUB_SUBJECT,   /* char *, NATS subject we publish to: literal */
    K_PREFIXES,      /* char *, subject prefixes ending in '.', a list
                        (YAML sequence, or comma-separated) kept as
                        "a.,b." */
    K_AUDIT_SUBJECT, /* char *, literal subject, or "" for off */
    K_BYTES,         /* size_t, integer with optional KiB/MiB/GiB/TiB */
    K_COUNT,         /* size_t, plain integer */
    K_INT,           /* int, plain integer */
    K_AUDIT_MODE,    /* config_audit_mode */
    K_DURATION,      /* int64_t seconds, "24h", "90m", "off", ... */
} setting_kind;

typedef struct {
    const char *name; /* dotted YAML path; the variable is derived from it */
    setting_kind kind;
    size_t off;        /* offsetof(config, field) */
    uint64_t min, max; /* range of the numeric kinds */
} setting;

#define F(field) offsetof(config, field)
static const setting settings[] = {
    {"nats.url", K_URLS, F(nats_url), 0, 0},
    {"nats.user", K_OPTIONAL, F(nats_user), 0, 0},
    {"nats.pass", K_SECRET, F(nats_pass), 0, 0},
    {"nats.token", K_SECRET, F(nats_token), 0, 0},
    {"nats.creds", K_OPTIONAL, F(nats_creds), 0, 0},
    {"nats.name", K_STRING, F(nats_name), 0, 0},
    {"nats.tls.ca", K_OPTIONAL, F(nats_tls_ca), 0, 0},
    {"nats.tls.cert", K_OPTIONAL, F(nats_tls_cert), 0, 0},
    {"nats.tls.key", K_OPTIONAL, F(nats_tls_key), 0, 0},
    {"encryption.master_key", K_STRING, F(master_key), 0, 0},
    {"storage.path", K_STRING, F(storage_path), 0, 0},
    {"storage.map_size", K_BYTES, F(storage_map_size), MAP_SIZE_MIN, MAP_SIZE_MAX},
    {"subjects.request", K_SUB_SUBJECT, F(subject_request), 0, 0},
    {"subjects.reply", K_PUB_SUBJECT, F(subject_reply), 0, 0},
    {"subjects.reply_prefixes", K_PREFIXES, F(reply_prefixes), 0, 0},
    {"limits.max_value_bytes", K_BYTES, F(max_value_bytes), 1, VALUE_BYTES_MAX},
    {"limits.max_request_bytes", K_BYTES, F(max_request_bytes), 1, REQUEST_BYTES_MAX},
    {"limits.max_json_elements", K_COUNT, F(max_json_elements), 16, 10000000},
    {"service.workers", K_INT, F(workers), 1, 256},
    {"service.queue_max_requests", K_COUNT, F(queue_max_requests), 1, 1000000},
    {"service.queue_max_bytes", K_BYTES, F(queue_max_bytes), MIB, 16 * GIB},
    {"audit.subject", K_AUDIT_SUBJECT, F(audit_subject), 0, 0},
    {"audit.mode", K_AUDIT_MODE, F(audit_mode), 0, 0},
    {"audit.buffer", K_COUNT, F(audit_buffer), 1, MIB},
    {"audit.nats.user", K_OPTIONAL, F(audit_nats_user), 0, 0},
    {"audit.nats.pass", K_SECRET, F(audit_nats_pass), 0, 0},
    {"audit.nats.token", K_SECRET, F(audit_nats_token), 0, 0},
    {"audit.nats.creds", K_OPTIONAL, F(audit_nats_creds), 0, 0},
    {"rotation.interval", K_DURATION, F(rotation_interval_s), 0, INTERVAL_MAX},
};
#undef F
#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* The top-level sections, in the order the messages list them. */
static const char *const sections[] = {
    "nats", "encryption", "storage", "subjects", "acl", "limits", "service", "audit", "rotation",
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* Where a setting's current value came from, for cross-checks. */
typedef struct {
    bool set;
    int line;               /* line in the file, if from the file */
    char env[NAME_MAX_LEN]; /* variable, if from the environment */
} origin;

typedef struct {
    config *c;
    const char *file;
    const char *text; /* the YAML text, for reader error lines */
    size_t text_len;
    vc_err *err;
    origin from[N_SETTINGS];
} loader;

/* ---- small helpers ---------------------------------------------------- */

static vc_code oom(vc_err *err)
{
    return vc_errf(err, VC_INTERNAL, "configuration: out of memory");
}

/* Wipes and frees a string that may have held a secret. */
static void wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

static char *dup_len(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

static char **str_slot(config *c, const setting *s)
{
    return (char **)(void *)((char *)c + s->off);
}

/* Replaces *slot by a copy of text (NULL text: unset); the old value is
 * wiped because it may be a secret. */
static vc_code set_string(char **slot, const char *text, size_t len, vc_err *err)
{
    char *copy = NULL;
    if (text != NULL && (copy = dup_len(text, len)) == NULL)
        return oom(err);
    wipe_free(*slot);
    *slot = copy;
    return VC_OK;
}

/* Writes a user-supplied value into buf as a C-like quoted string, with
 * control bytes escaped and long values cut, so a message stays one
 * readable line. Never called on a secret. */
static const char *quote(char *buf, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    const size_t room = n - 6; /* closing quote, "...", NUL */
    buf[o++] = '"';
    for (size_t i = 0; i < len && o < room; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= QUOTE_MAX) {
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

/* Human size for messages and the summary: "64 MiB", else "1000 bytes". */
static const char *fmt_size(char *buf, size_t n, uint64_t v)
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

static const char *node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "mapping";
    case YAML_SEQUENCE_NODE:
        return "list";
    case YAML_SCALAR_NODE:
        return "single value";
    case YAML_NO_NODE:
        break;
    }
    return "nothing";
}

static int node_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* A plain `~`, `null` or nothing: YAML's null (the document API does no
 * tag resolution, so we do this one ourselves). */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool scalar_is(const yaml_node_t *node, const char *s)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.length == strlen(s) &&
           memcmp(node->data.scalar.value, s, node->data.scalar.length) == 0;
}

static int find_setting(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Whether name is a section or subsection (a prefix of settings). */
static bool is_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strncmp(settings[i].name, name, n) == 0 && settings[i].name[n] == '.')
            return true;
    return false;
}

/* "VAULTCTL_" + the dotted name upper-cased with dots as underscores. */
static void env_name(char *buf, size_t n, const char *name, const char *suffix)
{
    int w = snprintf(buf, n, ENV_PREFIX "%s%s", name, suffix);
    if (w < 0 || (size_t)w >= n) {
        buf[0] = '\0'; /* names are short and fixed: cannot happen */
        return;
    }
    for (char *p = buf; *p != '\0'; p++)
        *p = *p == '.' ? '_' : (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
}

/* The value of variable name in envp (first one wins, like getenv). */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    if (envp == NULL)
        return NULL;
    for (char *const *e = envp; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* "FILE:LINE: setting" or "environment VAR" for setting i's value. */
static const char *where_of(const loader *ld, size_t i, char *buf, size_t n)
{
    const origin *o = &ld->from[i];
    int w;
    if (o->env[0] != '\0')
        w = snprintf(buf, n, "environment %s", o->env);
    else
        w = snprintf(buf, n, "%s:%d: %s", ld->file, o->line, settings[i].name);
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

/* "24h", "90m", "3600s", "7d", "1h30m", "3600" (seconds), "0"/"off". */
static bool parse_duration(const char *s, size_t len, uint64_t *out)
{
    uint64_t total = 0;
    size_t i = 0;
    if (len == 3 && strncasecmp(s, "off", 3) == 0) {
        *out = 0;
        return true;
    }
    if (parse_uint(s, len, out))
        return true;
    if (len == 0)
        return false;
    while (i < len) {
        size_t start = i;
        uint64_t v, mul;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i == len || !parse_uint(s + start, i - start, &v))
            return false;
        switch (s[i++]) {
        case 's':
            mul = 1;
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        case 'd':
            mul = 86400;
            break;
        default:
            return false;
        }
        if (v > (UINT64_MAX - total) / mul)
            return false;
        total += v * mul;
    }
    *out = total;
    return true;
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

/* What a setting of kind k expects, for "expected X, got Y" messages. */
static const char *expectation(const setting *s, char *buf, size_t n)
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
                     fmt_size(lo, sizeof lo, s->min), fmt_size(hi, sizeof hi, s->max));
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

/* Checks text (len bytes, from the file or the environment) against
 * setting i and stores it; where names the source for messages. */
static vc_code apply(loader *ld, size_t i, const char *text, size_t len, const char *where)
{
    const setting *s = &settings[i];
    config *c = ld->c;
    vc_err *err = ld->err;
    char q[QUOTE_MAX * 4 + 16], ex[128];
    uint64_t v = 0;

    if (text == NULL || memchr(text, '\0', len) != NULL)
        return vc_errf(err, VC_CONFIG, "%s: invalid: contains a NUL byte", where);

    switch (s->kind) {
    case K_SECRET:
    case K_OPTIONAL:
        return set_string(str_slot(c, s), len > 0 ? text : NULL, len, err);
    case K_PREFIXES: {
        char *copy = dup_len(text, len);
        if (copy == NULL)
            return oom(err);
        if (!prefixes_valid(copy)) {
            vc_code rc = vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                                 expectation(s, ex, sizeof ex), quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        wipe_free(*str_slot(c, s));
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
        if ((copy = dup_len(text, len)) == NULL)
            return oom(err);
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
                         quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        if (s->kind != K_SUB_SUBJECT && len > 0 && has_wildcard(copy)) {
            rc = vc_errf(err, VC_CONFIG,
                         "%s: vaultctl publishes here, so it must be a "
                         "subject without wildcards, got %s",
                         where, quote(q, sizeof q, text, len));
            free(copy);
            return rc;
        }
        wipe_free(*str_slot(c, s));
        *str_slot(c, s) = copy;
        return VC_OK;
    }
    case K_BYTES:
    case K_COUNT:
    case K_INT: {
        bool ok = s->kind == K_BYTES ? parse_size(text, len, &v) : parse_uint(text, len, &v);
        if (!ok || v < s->min || v > s->max)
            return vc_errf(err, VC_CONFIG, "%s: expected %s, got %s", where,
                           expectation(s, ex, sizeof ex), quote(q, sizeof q, text, len));
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
                           expectation(s, ex, sizeof ex), quote(q, sizeof q, text, len));
        return VC_OK;
    case K_DURATION:
        if (!parse_duration(text, len, &v) || v > s->max)
            return vc_errf(err, VC_CONFIG,
                           "%s: expected %s (at most 3650d), "
                           "got %s",
                           where, expectation(s, ex, sizeof ex), quote(q, sizeof q, text, len));
        c->rotation_interval_s = (int64_t)v;
        return VC_OK;
    }
    return vc_errf(err, VC_INTERNAL, "%s: unhandled setting kind", where);
}

/* ---- the YAML walk ---------------------------------------------------- */

static vc_code load_mapping(loader *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix);

/* Error if the key at pair duplicates an earlier key of the same mapping. */
static vc_code check_duplicate(loader *ld, yaml_document_t *doc, yaml_node_t *map,
                               yaml_node_pair_t *pair, const char *name)
{
    yaml_node_t *key = yaml_document_get_node(doc, pair->key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            k->data.scalar.length == key->data.scalar.length &&
            memcmp(k->data.scalar.value, key->data.scalar.value, k->data.scalar.length) == 0)
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: duplicate key (first at line %d)",
                           ld->file, node_line(key), name, node_line(k));
    }
    return VC_OK;
}

/* The full dotted name of key under prefix, user text made printable.
 * Returns false if the key cannot be a setting name (then buf still holds
 * a printable form for the message). */
static bool key_name(char *buf, size_t n, const char *prefix, const yaml_node_t *key)
{
    const char *k = (const char *)key->data.scalar.value;
    size_t len = key->data.scalar.length;
    bool plain = len > 0 && len < NAME_MAX_LEN / 2;
    int w;
    for (size_t i = 0; plain && i < len; i++)
        plain = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
                (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-';
    if (plain) {
        w = snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "", k);
    } else {
        char q[QUOTE_MAX * 4 + 16];
        w = snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "", quote(q, sizeof q, k, len));
    }
    return plain && w >= 0 && (size_t)w < n;
}

/* "url, user, pass, ..." : the keys a mapping at prefix accepts. */
static void known_keys(char *buf, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix), o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *name = settings[i].name;
        if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
            continue;
        const char *key = name + plen + 1;
        size_t klen = strcspn(key, ".");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(settings[j].name, name, plen + 1 + klen) == 0 &&
                   (settings[j].name[plen + 1 + klen] == '\0' ||
                    settings[j].name[plen + 1 + klen] == '.');
        if (seen)
            continue;
        int w = snprintf(buf + o, n - o, "%s%.*s", o ? ", " : "", (int)klen, key);
        if (w < 0 || (size_t)w >= n - o)
            return; /* a cut list is still a useful hint */
        o += (size_t)w;
    }
}

static void section_list(char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SECTIONS; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "", sections[i]);
        if (w < 0 || (size_t)w >= n - o)
            return;
        o += (size_t)w;
    }
}

/* A K_PREFIXES setting given as a YAML sequence: its items joined with
 * commas, then checked as the comma-separated form. */
static vc_code load_prefix_list(loader *ld, size_t i, yaml_document_t *doc, yaml_node_t *seq,
                                const char *where)
{
    char joined[1024];
    size_t o = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (item == NULL || item->type != YAML_SCALAR_NODE)
            return vc_errf(ld->err, VC_CONFIG, "%s: expected a list of subject prefixes", where);
        size_t n = item->data.scalar.length;
        if (o + n + 2 > sizeof joined)
            return vc_errf(ld->err, VC_CONFIG, "%s: too long a list", where);
        if (o > 0)
            joined[o++] = ',';
        memcpy(joined + o, item->data.scalar.value, n);
        o += n;
    }
    vc_code rc = apply(ld, i, joined, o, where);
    if (rc != VC_OK)
        return rc;
    ld->from[i].set = true;
    ld->from[i].line = node_line(seq);
    ld->from[i].env[0] = '\0';
    return VC_OK;
}

static vc_code load_scalar_setting(loader *ld, size_t i, yaml_document_t *doc, yaml_node_t *value)
{
    char where[WHERE_MAX];
    int w =
        snprintf(where, sizeof where, "%s:%d: %s", ld->file, node_line(value), settings[i].name);
    (void)w; /* a cut prefix (very long file name) only shortens it */
    if (value->type == YAML_SEQUENCE_NODE && settings[i].kind == K_PREFIXES)
        return load_prefix_list(ld, i, doc, value, where);
    if (value->type != YAML_SCALAR_NODE) {
        char ex[128];
        return vc_errf(ld->err, VC_CONFIG, "%s: expected %s, got a %s", where,
                       expectation(&settings[i], ex, sizeof ex), node_kind(value));
    }
    const char *text = is_null(value) ? "" : (const char *)value->data.scalar.value;
    size_t len = is_null(value) ? 0 : value->data.scalar.length;
    vc_code rc = apply(ld, i, text, len, where);
    if (rc != VC_OK)
        return rc;
    ld->from[i].set = true;
    ld->from[i].line = node_line(value);
    ld->from[i].env[0] = '\0';
    return VC_OK;
}

/* Adds the operation named by scalar node op ("*" and "all": every one)
 * to *ops; name is the setting for messages. */
static vc_code add_op(loader *ld, const yaml_node_t *op, const char *name, unsigned *ops)
{
    char q[QUOTE_MAX * 4 + 16];
    if (op->type != YAML_SCALAR_NODE)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected an operation name, got a %s",
                       ld->file, node_line(op), name, node_kind(op));
    const char *t = (const char *)op->data.scalar.value;
    size_t len = op->data.scalar.length;
    vc_op o = op_from_name(t, len);
    if (scalar_is(op, "*") || scalar_is(op, "all"))
        *ops |= OP_ALL_BITS;
    else if (o != OP_NONE)
        *ops |= OP_BIT(o);
    else
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: unknown operation %s (expected get, set, "
                       "delete, list, rotate, status, or \"*\" / all)",
                       ld->file, node_line(op), name, quote(q, sizeof q, t, len));
    return VC_OK;
}

/* The operations of ACL rule idx: a list of names, or one name alone. */
static vc_code load_ops(loader *ld, yaml_document_t *doc, yaml_node_t *node, size_t idx,
                        unsigned *ops)
{
    char name[64];
    int w;

    *ops = 0;
    if (node->type == YAML_MAPPING_NODE || is_null(node))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: acl[%zu].operations: expected a list of "
                       "operations such as [get, set] ([] for none), got %s%s",
                       ld->file, node_line(node), idx, is_null(node) ? "" : "a ",
                       is_null(node) ? "nothing" : node_kind(node));
    if (node->type == YAML_SCALAR_NODE) {
        w = snprintf(name, sizeof name, "acl[%zu].operations", idx);
        (void)w; /* fits: one integer and a fixed text */
        return add_op(ld, node, name, ops);
    }
    yaml_node_item_t *first = node->data.sequence.items.start;
    for (yaml_node_item_t *it = first; it < node->data.sequence.items.top; it++) {
        w = snprintf(name, sizeof name, "acl[%zu].operations[%zu]", idx, (size_t)(it - first));
        (void)w; /* fits: two integers and a fixed text */
        vc_code rc = add_op(ld, yaml_document_get_node(doc, *it), name, ops);
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

static vc_code load_rule(loader *ld, yaml_document_t *doc, yaml_node_t *node, size_t idx,
                         acl_rule *rule)
{
    char q[QUOTE_MAX * 4 + 16], name[NAME_MAX_LEN], prefix[32];
    bool have_subject = false, have_ops = false;
    int w = snprintf(prefix, sizeof prefix, "acl[%zu]", idx);
    (void)w; /* fits: one integer and a fixed text */

    if (node->type != YAML_MAPPING_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: expected a mapping with subject and "
                       "operations, got a %s",
                       ld->file, node_line(node), prefix, node_kind(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: keys must be plain names", ld->file,
                           node_line(k), prefix);
        bool plain = key_name(name, sizeof name, prefix, k);
        vc_code rc = check_duplicate(ld, doc, node, p, name);
        if (rc != VC_OK)
            return rc;
        if (plain && scalar_is(k, "subject")) {
            if (v->type != YAML_SCALAR_NODE)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected a NATS subject, got a %s",
                               ld->file, node_line(v), name, node_kind(v));
            const char *t = (const char *)v->data.scalar.value;
            size_t len = v->data.scalar.length;
            if (is_null(v) || len == 0)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: must not be empty", ld->file,
                               node_line(v), name);
            if (memchr(t, '\0', len) != NULL || !acl_subject_valid(t))
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: not a valid NATS subject: %s",
                               ld->file, node_line(v), name, quote(q, sizeof q, t, len));
            /* A pattern that covers reply inboxes or the service API would
             * make vaultctl answer other clients' replies and $SRV pings. */
            if (acl_subject_matches(t, "_INBOX.x.y") || acl_subject_matches(t, "$SRV.PING"))
                return vc_errf(ld->err, VC_CONFIG,
                               "%s:%d: %s: %s also covers _INBOX.> or $SRV.>; "
                               "use a narrower subject",
                               ld->file, node_line(v), name, quote(q, sizeof q, t, len));
            for (size_t j = 0; j < idx; j++)
                if (strcmp(ld->c->acl[j].subject, t) == 0)
                    return vc_errf(ld->err, VC_CONFIG,
                                   "%s:%d: %s: acl[%zu] already has subject "
                                   "%s, and only the first matching rule "
                                   "applies",
                                   ld->file, node_line(v), name, j, quote(q, sizeof q, t, len));
            if ((rule->subject = dup_len(t, len)) == NULL)
                return oom(ld->err);
            have_subject = true;
        } else if (plain && scalar_is(k, "operations")) {
            if ((rc = load_ops(ld, doc, v, idx, &rule->ops)) != VC_OK)
                return rc;
            have_ops = true;
        } else {
            return vc_errf(ld->err, VC_CONFIG,
                           "%s:%d: %s: unknown setting (a rule has: subject, "
                           "operations)",
                           ld->file, node_line(k), name);
        }
    }
    if (!have_subject || !have_ops)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: missing %s", ld->file, node_line(node),
                       prefix, have_subject ? "operations" : "subject");
    return VC_OK;
}

static vc_code load_acl(loader *ld, yaml_document_t *doc, yaml_node_t *node)
{
    config *c = ld->c;
    if (is_null(node))
        return VC_OK; /* no rules: everything is denied */
    if (node->type != YAML_SEQUENCE_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: acl: expected a list of rules (- subject: ..., "
                       "operations: [...]), got a %s",
                       ld->file, node_line(node), node_kind(node));
    yaml_node_item_t *first = node->data.sequence.items.start;
    size_t n = (size_t)(node->data.sequence.items.top - first);
    if (n == 0)
        return VC_OK;
    if ((c->acl = calloc(n, sizeof *c->acl)) == NULL)
        return oom(ld->err);
    for (size_t i = 0; i < n; i++) {
        c->acl_count = i + 1; /* so config_free frees a half-built rule */
        vc_code rc = load_rule(ld, doc, yaml_document_get_node(doc, first[i]), i, &c->acl[i]);
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

static vc_code load_mapping(loader *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    char name[NAME_MAX_LEN], list[256];

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: keys must be plain names", ld->file,
                           node_line(k), prefix[0] ? prefix : "(top level)");
        bool plain = key_name(name, sizeof name, prefix, k);
        vc_code rc = check_duplicate(ld, doc, map, p, name);
        if (rc != VC_OK)
            return rc;
        int i = plain ? find_setting(name) : -1;
        if (i >= 0) {
            rc = load_scalar_setting(ld, (size_t)i, doc, v);
        } else if (plain && strcmp(name, "acl") == 0) {
            rc = load_acl(ld, doc, v);
        } else if (plain && is_section(name)) {
            if (is_null(v))
                continue; /* an empty section: its defaults */
            if (v->type != YAML_MAPPING_NODE)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected a mapping, got a %s",
                               ld->file, node_line(v), name, node_kind(v));
            rc = load_mapping(ld, doc, v, name);
        } else if (prefix[0] == '\0') {
            section_list(list, sizeof list);
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: unknown section (expected one of: %s)",
                           ld->file, node_line(k), name, list);
        } else {
            known_keys(list, sizeof list, prefix);
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: unknown setting (%s has: %s)", ld->file,
                           node_line(k), name, prefix, list);
        }
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

/* libyaml's error as "FILE:LINE: YAML syntax error ...". */
static vc_code yaml_error(const loader *ld, const yaml_parser_t *p)
{
    size_t line, col;
    if (p->error == YAML_MEMORY_ERROR)
        return oom(ld->err);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->text_len; i++) {
            col++;
            if (ld->text[i] == '\n') {
                line++;
                col = 1;
            }
        }
        return vc_errf(ld->err, VC_CONFIG, "%s:%zu: YAML syntax error: %s (column %zu)", ld->file,
                       line, p->problem ? p->problem : "unreadable text", col);
    }
    line = p->problem_mark.line + 1;
    col = p->problem_mark.column + 1;
    if (p->context != NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s:%zu: YAML syntax error %s: %s (column %zu)",
                       ld->file, line, p->context, p->problem ? p->problem : "invalid YAML", col);
    return vc_errf(ld->err, VC_CONFIG,
                   "%s:%zu: YAML syntax error: %s "
                   "(column %zu)",
                   ld->file, line, p->problem ? p->problem : "invalid YAML", col);
}

/* Wipes libyaml's copies of the text: it may hold a password. */
static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n != NULL && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value != NULL)
            sodium_memzero(n->data.scalar.value, n->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p)
{
    if (p->buffer.start != NULL)
        sodium_memzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    if (p->raw_buffer.start != NULL)
        sodium_memzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static vc_code load_yaml(loader *ld)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_doc = false, have_extra = false;
    vc_code rc;

    if (!yaml_parser_initialize(&parser))
        return oom(ld->err);
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->text_len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_error(ld, &parser);
        goto done;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || is_null(root)) {
        rc = vc_errf(ld->err, VC_CONFIG,
                     "%s:%d: no settings (the file is "
                     "empty)",
                     ld->file, root ? node_line(root) : 1);
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char list[256];
        section_list(list, sizeof list);
        rc = vc_errf(ld->err, VC_CONFIG, "%s:%d: expected a mapping of sections (%s), got a %s",
                     ld->file, node_line(root), list, node_kind(root));
        goto done;
    }
    /* One document only: a second one would be silently ignored. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = yaml_error(ld, &parser);
        goto done;
    }
    have_extra = true;
    yaml_node_t *more = yaml_document_get_root_node(&extra);
    if (more != NULL) {
        rc = vc_errf(ld->err, VC_CONFIG,
                     "%s:%d: a second YAML document; the "
                     "configuration is one document",
                     ld->file, node_line(more));
        goto done;
    }
    rc = load_mapping(ld, &doc, root, "");
done:
    if (have_extra) {
        wipe_document(&extra);
        yaml_document_delete(&extra);
    }
    if (have_doc) {
        wipe_document(&doc);
        yaml_document_delete(&doc);
    }
    wipe_parser(&parser);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- the environment -------------------------------------------------- */

/* Reads a secret file into a malloc'd string with one trailing newline
 * removed; the caller wipes and frees it. */
static vc_code read_secret_file(const char *var, const char *path, char **out, size_t *len,
                                vc_err *err)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vc_errf(err, VC_CONFIG, "environment %s: cannot read %s: %s", var, path,
                       strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vc_errf(err, VC_CONFIG, "environment %s: cannot read %s: %s", var, path,
                       strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SECRET_FILE_MAX) {
        close(fd);
        return vc_errf(err, VC_CONFIG,
                       "environment %s: cannot read %s: not a regular file "
                       "of at most 64 KiB",
                       var, path);
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return oom(err);
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            sodium_memzero(buf, n);
            free(buf);
            return vc_errf(err, VC_CONFIG, "environment %s: cannot read %s: %s", var, path,
                           strerror(e));
        }
        if (r == 0)
            break; /* shrank while reading: take what is there */
        n += (size_t)r;
    }
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = '\0';
    if (n == 0) {
        free(buf);
        return vc_errf(err, VC_CONFIG, "environment %s: %s is empty", var, path);
    }
    *out = buf;
    *len = n;
    return VC_OK;
}

/* A VAULTCTL_<SECTION>_... variable that names no setting is a typo: an
 * error, like an unknown key in the file. Variables outside our sections
 * (VAULTCTL_CONFIG, other tools' settings) are left alone. */
static vc_code check_unknown_env(loader *ld, char *const *envp)
{
    char known[NAME_MAX_LEN], sect[NAME_MAX_LEN];
    for (char *const *e = envp; *e != NULL; e++) {
        size_t n = strcspn(*e, "=");
        bool ours = false, found = false;
        if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
            continue;
        for (size_t s = 0; s < N_SECTIONS && !ours; s++) {
            env_name(sect, sizeof sect, sections[s], "_");
            ours = strncmp(*e, sect, strlen(sect)) == 0;
        }
        for (size_t i = 0; i < N_SETTINGS && ours && !found; i++) {
            env_name(known, sizeof known, settings[i].name, "");
            found = strlen(known) == n && strncmp(*e, known, n) == 0;
            if (!found && settings[i].kind == K_SECRET) {
                env_name(known, sizeof known, settings[i].name, "_FILE");
                found = strlen(known) == n && strncmp(*e, known, n) == 0;
            }
        }
        if (ours && !found) {
            char q[QUOTE_MAX * 4 + 16];
            return vc_errf(ld->err, VC_CONFIG,
                           "environment %s: unknown setting (only nats.pass, "
                           "nats.token, audit.nats.pass and audit.nats.token "
                           "take a _FILE variable; the acl is set in the file)",
                           quote(q, sizeof q, *e, n));
        }
    }
    return VC_OK;
}

static vc_code apply_env(loader *ld, char *const *envp)
{
    char var[NAME_MAX_LEN], var_file[NAME_MAX_LEN], where[NAME_MAX_LEN + 16];
    vc_code rc;

    if (envp == NULL)
        return VC_OK;
    if ((rc = check_unknown_env(ld, envp)) != VC_OK)
        return rc;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const char *v, *path = NULL, *used = var;
        char *secret = NULL;
        size_t len = 0;

        env_name(var, sizeof var, s->name, "");
        v = env_get(envp, var);
        if (s->kind == K_SECRET) {
            env_name(var_file, sizeof var_file, s->name, "_FILE");
            path = env_get(envp, var_file);
        }
        if (v != NULL && path != NULL)
            return vc_errf(ld->err, VC_CONFIG, "environment %s and %s: set only one of them", var,
                           var_file);
        if (v == NULL && path == NULL)
            continue;
        if (path != NULL) {
            used = var_file;
            rc = read_secret_file(var_file, path, &secret, &len, ld->err);
            if (rc != VC_OK)
                return rc;
            v = secret;
        } else {
            len = strlen(v);
        }
        int w = snprintf(where, sizeof where, "environment %s", used);
        (void)w; /* fits: the names are short and fixed */
        rc = apply(ld, i, v, len, where);
        wipe_free(secret);
        if (rc != VC_OK)
            return rc;
        ld->from[i].set = true;
        ld->from[i].line = 0;
        memcpy(ld->from[i].env, used, strlen(used) + 1);
    }
    return VC_OK;
}

/* ---- after both sources ----------------------------------------------- */

static vc_code cross_check(loader *ld)
{
    config *c = ld->c;
    char where[WHERE_MAX];
    const size_t user = (size_t)find_setting("nats.user"), pass = (size_t)find_setting("nats.pass"),
                 token = (size_t)find_setting("nats.token"),
                 creds = (size_t)find_setting("nats.creds"),
                 cert = (size_t)find_setting("nats.tls.cert"),
                 key = (size_t)find_setting("nats.tls.key"),
                 req = (size_t)find_setting("limits.max_request_bytes");

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
    if (c->nats_user != NULL && c->nats_pass == NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s: set without nats.pass",
                       where_of(ld, user, where, sizeof where));
    if (c->nats_pass != NULL && c->nats_user == NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s: set without nats.user",
                       where_of(ld, pass, where, sizeof where));
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
    if ((c->audit_nats_user != NULL) != (c->audit_nats_pass != NULL))
        return vc_errf(ld->err, VC_CONFIG, "%s: set without %s",
                       where_of(ld,
                                (size_t)find_setting(c->audit_nats_user ? "audit.nats.user"
                                                                        : "audit.nats.pass"),
                                where, sizeof where),
                       c->audit_nats_user ? "audit.nats.pass" : "audit.nats.user");
    if ((c->audit_nats_user != NULL) + (c->audit_nats_token != NULL) +
            (c->audit_nats_creds != NULL) >
        1)
        return vc_errf(ld->err, VC_CONFIG,
                       "audit.nats: set only one of user and pass, token, or creds");
    if (c->nats_tls_cert != NULL && c->nats_tls_key == NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s: set without nats.tls.key",
                       where_of(ld, cert, where, sizeof where));
    if (c->nats_tls_key != NULL && c->nats_tls_cert == NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s: set without nats.tls.cert",
                       where_of(ld, key, where, sizeof where));
    return VC_OK;
}

static vc_code set_defaults(config *c, const char *name, vc_err *err)
{
    c->file = strdup(name);
    c->nats_url = strdup("nats://127.0.0.1:4222");
    c->nats_name = strdup("vaultctl");
    c->master_key = strdup("/app/config/master.key");
    c->storage_path = strdup("/app/data");
    c->subject_request = strdup("vault.requests");
    c->subject_reply = strdup("vault.replies");
    c->reply_prefixes = strdup("_INBOX.");
    c->audit_subject = strdup("vault.audit");
    if (!c->file || !c->nats_url || !c->nats_name || !c->master_key || !c->storage_path ||
        !c->subject_request || !c->subject_reply || !c->audit_subject || !c->reply_prefixes)
        return oom(err);
    c->storage_map_size = (size_t)GIB;
    c->max_value_bytes = CONFIG_DEFAULT_MAX_VALUE;
    c->workers = 4;
    c->queue_max_requests = 4096;
    c->queue_max_bytes = (size_t)(64 * MIB);
    c->max_json_elements = 4096;
    c->audit_mode = AUDIT_BEST_EFFORT;
    c->audit_buffer = 4096;
    c->rotation_interval_s = 0;
    return VC_OK;
}

/* ---- public ----------------------------------------------------------- */

vc_code config_load_string(config **out, const char *name, const char *yaml, size_t len,
                           char *const *envp, vc_err *err)
{
    loader *ld = NULL;
    config *c = NULL;
    vc_code rc;

    *out = NULL;
    if (name == NULL)
        name = "(config)";
    if ((c = calloc(1, sizeof *c)) == NULL || (ld = calloc(1, sizeof *ld)) == NULL) {
        rc = oom(err);
        goto fail;
    }
    if ((rc = set_defaults(c, name, err)) != VC_OK)
        goto fail;
    ld->c = c;
    ld->file = name;
    ld->text = yaml != NULL ? yaml : "";
    ld->text_len = yaml != NULL ? len : 0;
    ld->err = err;
    if ((rc = load_yaml(ld)) != VC_OK)
        goto fail;
    if ((rc = apply_env(ld, envp)) != VC_OK)
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

/* Reads the whole file into a malloc'd buffer (wiped by the caller). */
static vc_code read_config_file(const char *path, char **out, size_t *len, vc_err *err)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vc_errf(err, VC_CONFIG, "%s: cannot read: %s", path, strerror(errno));
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nbuf;
            if (cap >= CONFIG_FILE_MAX) {
                close(fd);
                sodium_memzero(buf, n);
                free(buf);
                return vc_errf(err, VC_CONFIG,
                               "%s: cannot read: larger "
                               "than 1 MiB, not a configuration",
                               path);
            }
            /* Grow by copy, so the old buffer can be wiped. */
            if ((nbuf = malloc(ncap)) == NULL) {
                close(fd);
                sodium_memzero(buf, n);
                free(buf);
                return oom(err);
            }
            if (n > 0)
                memcpy(nbuf, buf, n);
            if (buf != NULL)
                sodium_memzero(buf, n);
            free(buf);
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            sodium_memzero(buf, n);
            free(buf);
            return vc_errf(err, VC_CONFIG, "%s: cannot read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return VC_OK;
}

vc_code config_load(config **out, const char *path, char *const *envp, vc_err *err)
{
    char *text = NULL;
    size_t len = 0;
    vc_code rc;

    *out = NULL;
    if (path == NULL) {
        path = env_get(envp, "VAULTCTL_CONFIG");
        if (path == NULL || path[0] == '\0')
            path = CONFIG_DEFAULT_PATH;
    }
    if ((rc = read_config_file(path, &text, &len, err)) != VC_OK)
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
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (s->kind <= K_AUDIT_SUBJECT) /* the char * kinds come first */
            wipe_free(*str_slot(c, s));
    }
    for (size_t i = 0; i < c->acl_count; i++)
        free((char *)c->acl[i].subject); /* owned: acl_rule's const is for readers */
    free(c->acl);
    free(c->file);
    free(c);
}

/* ---- the summary for `vaultctl serve --check` -------------------------- */

/* Writes one server URL with any user:password@ or token@ hidden. */
static void put_url(FILE *f, const char *u, size_t len)
{
    const char *scheme = NULL;
    for (size_t i = 0; i + 2 < len; i++)
        if (memcmp(u + i, "://", 3) == 0) {
            scheme = u + i + 3;
            break;
        }
    const char *host = scheme ? scheme : u;
    size_t hlen = len - (size_t)(host - u);
    size_t auth_len = 0;
    while (auth_len < hlen && host[auth_len] != '/')
        auth_len++;
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (host[i] == '@')
            at = host + i;
    if (at == NULL) {
        fprintf(f, "%.*s", (int)len, u);
        return;
    }
    const char *colon = memchr(host, ':', (size_t)(at - host));
    fprintf(f, "%.*s%.*s%s%.*s", (int)(host - u), u, colon ? (int)(colon - host) : 0, host,
            colon ? ":(password hidden)" : "(token hidden)", (int)(len - (size_t)(at - u)), at);
}

static void put_duration(FILE *f, int64_t s)
{
    if (s % 86400 == 0)
        fprintf(f, "%" PRId64 "d", s / 86400);
    else if (s % 3600 == 0)
        fprintf(f, "%" PRId64 "h", s / 3600);
    else if (s % 60 == 0)
        fprintf(f, "%" PRId64 "m", s / 60);
    else
        fprintf(f, "%" PRId64 "s", s);
}

static void put_ops(FILE *f, unsigned ops)
{
    bool any = false;
    for (int o = 0; o < (int)OP_COUNT; o++) {
        if (ops & OP_BIT(o)) {
            fprintf(f, "%s%s", any ? ", " : "", op_name((vc_op)o));
            any = true;
        }
    }
    if (!any)
        fputs("nothing (denies every operation)", f);
}

static void describe(FILE *f, const config *c)
{
    char a[32], b[32];

    fprintf(f, "configuration: %s\n", c->file ? c->file : "(defaults)");
    fputs("nats:       servers ", f);
    for (const char *p = c->nats_url;;) {
        size_t n = strcspn(p, ",");
        put_url(f, p, n);
        if (p[n] == '\0')
            break;
        fputs(", ", f);
        p += n + 1;
    }
    fprintf(f, ", connection name \"%s\"\n", c->nats_name);
    if (c->nats_user != NULL)
        fprintf(f, "  auth:     user %s, password set\n", c->nats_user);
    else if (c->nats_token != NULL)
        fputs("  auth:     token set\n", f);
    else if (c->nats_creds != NULL)
        fprintf(f, "  auth:     credentials file %s\n", c->nats_creds);
    else
        fputs("  auth:     none (unless the URL carries it)\n", f);
    if (c->nats_tls_ca || c->nats_tls_cert)
        fprintf(f, "  tls:      ca %s, client cert %s, key %s\n",
                c->nats_tls_ca ? c->nats_tls_ca : "(system)",
                c->nats_tls_cert ? c->nats_tls_cert : "(none)",
                c->nats_tls_key ? c->nats_tls_key : "(none)");
    else
        fputs("  tls:      no files (a tls:// URL uses the system CAs)\n", f);
    fprintf(f, "encryption: master key file %s\n", c->master_key);
    fprintf(f, "storage:    %s, map size %s\n", c->storage_path,
            fmt_size(a, sizeof a, c->storage_map_size));
    fprintf(f, "subjects:   listens on %s", c->subject_request);
    for (size_t i = 0; i < c->acl_count; i++)
        if (strcmp(c->acl[i].subject, c->subject_request) != 0)
            fprintf(f, ", %s", c->acl[i].subject);
    fprintf(f,
            " (queue group vaultctl); replies without an inbox go to "
            "%s\n",
            c->subject_reply);
    fprintf(f, "  replies:  only to reply subjects starting with %s\n", c->reply_prefixes);
    fprintf(f,
            "acl:        %zu rule%s, first match decides, no match is "
            "denied\n",
            c->acl_count, c->acl_count == 1 ? "" : "s");
    for (size_t i = 0; i < c->acl_count; i++) {
        fprintf(f, "  %s: ", c->acl[i].subject);
        put_ops(f, c->acl[i].ops);
        fputc('\n', f);
    }
    fprintf(f, "limits:     value %s, request %s, %zu JSON elements\n",
            fmt_size(a, sizeof a, c->max_value_bytes), fmt_size(b, sizeof b, c->max_request_bytes),
            c->max_json_elements);
    fprintf(f, "service:    %d worker%s, queue of %zu requests or %s\n", c->workers,
            c->workers == 1 ? "" : "s", c->queue_max_requests,
            fmt_size(a, sizeof a, c->queue_max_bytes));
    if (c->audit_subject != NULL && c->audit_subject[0] != '\0')
        fprintf(f, "audit:      events on %s, %s, buffer %zu\n", c->audit_subject,
                c->audit_mode == AUDIT_REQUIRED
                    ? "required (a request fails if its event cannot be sent)"
                    : "best_effort",
                c->audit_buffer);
    else
        fputs("audit:      off\n", f);
    if (c->audit_nats_user != NULL)
        fprintf(f, "  auth:     audit events as user %s, password set\n", c->audit_nats_user);
    else if (c->audit_nats_token != NULL)
        fputs("  auth:     audit events with their own token\n", f);
    else if (c->audit_nats_creds != NULL)
        fprintf(f, "  auth:     audit events with credentials file %s\n", c->audit_nats_creds);
    if (c->rotation_interval_s > 0) {
        fputs("rotation:   every ", f);
        put_duration(f, c->rotation_interval_s);
        fputc('\n', f);
    } else {
        fputs("rotation:   off (rotate on request only)\n", f);
    }
}

char *config_describe(const config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (c == NULL)
        return NULL;
    if ((f = open_memstream(&buf, &len)) == NULL)
        return NULL;
    describe(f, c);
    if (ferror(f) != 0) {
        fclose(f);
        free(buf);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
