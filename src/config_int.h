/* config_int.h - what the configuration's files share, and nothing else
 * includes: the settings table, the loader's state, and the calls that check
 * and store one value.
 *
 *   config.c           the table (names, kinds, ranges, defaults), checking
 *                      and storing one value, cross-checks, load and free
 *   config_yaml.c      reading the file and walking its YAML (and the ACL)
 *   config_env.c       VAULTCTL_<SECTION>_<KEY> and ..._FILE overrides
 *   config_describe.c  the summary `serve --check` prints
 */
#ifndef VAULTCTL_CONFIG_INT_H
#define VAULTCTL_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONFIG_ENV_PREFIX "VAULTCTL_"
#define CONFIG_NAME_MAX   96  /* longest dotted setting name we build */
#define CONFIG_WHERE_MAX  768 /* "FILE:LINE: setting" or "environment VAR" */
#define CONFIG_QUOTE_MAX  64  /* a quoted user value is cut after this many bytes */
#define CONFIG_QUOTE_BUF  (CONFIG_QUOTE_MAX * 4 + 16) /* room for config_quote */

/* How the text of a setting is checked and where it is stored. The char *
 * kinds come first (config_free relies on it). */
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
    K_BOOL,          /* bool, true or false */
} config_kind;

typedef struct {
    const char *name; /* dotted YAML path; the variable is derived from it */
    config_kind kind;
    size_t off;        /* offsetof(config, field) */
    uint64_t min, max; /* range of the numeric kinds */
    const char *def;   /* the default, as text a user could write; NULL: unset
                          (or derived, for limits.max_request_bytes) */
} config_setting;

/* The table, in config.c; its size is checked against this at compile time. */
#define CONFIG_N_SETTINGS 44
extern const config_setting config_settings[CONFIG_N_SETTINGS];

/* The top-level sections, in the order the messages list them. */
#define CONFIG_N_SECTIONS 13
extern const char *const config_sections[CONFIG_N_SECTIONS];

/* Where a setting's current value came from, for cross-checks. */
typedef struct {
    bool set;
    int line;                  /* line in the file, if from the file */
    char env[CONFIG_NAME_MAX]; /* variable, if from the environment */
} config_origin;

/* One load in progress. */
typedef struct {
    config *c;
    const char *file;
    const char *text; /* the YAML text, for reader error lines */
    size_t text_len;
    vc_err *err;
    config_origin from[CONFIG_N_SETTINGS];
} config_loader;

/* ---- config.c ---------------------------------------------------------- */

/* VC_INTERNAL "configuration: out of memory". */
vc_code config_oom(vc_err *err);

/* Index of the setting with dotted name, or -1. */
int config_find_setting(const char *name);

/* Checks text (len bytes, not necessarily NUL-terminated) against setting i
 * and stores it in ld->c; where ("FILE:LINE: name", "environment VAR")
 * starts any message. The origin is the caller's to record. */
vc_code config_apply(config_loader *ld, size_t i, const char *text, size_t len, const char *where);

/* Records where setting i's value came from: a file line, or (env not
 * NULL) an environment variable. */
void config_set_origin(config_loader *ld, size_t i, int line, const char *env);

/* What setting s expects, for "expected X, got Y" messages; may use buf. */
const char *config_expectation(const config_setting *s, char *buf, size_t n);

/* s (len bytes) as a C-like quoted string in buf (CONFIG_QUOTE_BUF bytes),
 * control bytes escaped and cut after CONFIG_QUOTE_MAX: a message stays one
 * readable line. Never called on a secret. Returns buf. */
const char *config_quote(char *buf, size_t n, const char *s, size_t len);

/* "64 MiB", else "1000 bytes", for messages and the summary. Returns buf. */
const char *config_fmt_size(char *buf, size_t n, uint64_t v);

/* ---- config_yaml.c ----------------------------------------------------- */

/* Reads the file at path into a malloc'd buffer (at most 1 MiB) that the
 * caller wipes and frees. */
vc_code config_read_file(const char *path, char **out, size_t *len, vc_err *err);

/* Parses ld->text and applies every setting and the ACL into ld->c. */
vc_code config_load_yaml(config_loader *ld);

/* ---- config_creds.c ---------------------------------------------------- */

struct yaml_document_s;
struct yaml_node_s;

/* nats_credentials.roles: a mapping of role name to {publish, subscribe,
 * ttl, max_ttl}. */
vc_code config_load_creds_roles(config_loader *ld, struct yaml_document_s *doc,
                                struct yaml_node_s *node);

/* An ACL rule's roles: a list of role names ("*": all). */
vc_code config_load_acl_roles(config_loader *ld, struct yaml_document_s *doc,
                              struct yaml_node_s *node, size_t idx, acl_rule *rule);

/* nats_credentials once every source is in: account a valid A... key and
 * signing_key set together, roles only with them, ACL roles that exist. */
vc_code config_creds_check(config_loader *ld);

/* Frees the roles of c and of its ACL rules. */
void config_creds_free(config *c);

/* ---- config_identity.c ------------------------------------------------ */

/* An ACL rule's users or accounts (what: "users" or "accounts"): a list of
 * user keys or names, account keys or names, each may end in one '*'. */
vc_code config_load_acl_identity(config_loader *ld, struct yaml_document_s *doc,
                                 struct yaml_node_s *node, size_t idx, const char *what,
                                 acl_rule *rule);

/* acl_identity is none or request_info; entries with users or accounts
 * only with request_info. */
vc_code config_identity_check(config_loader *ld);

/* Frees the users and accounts of c's ACL rules. */
void config_identity_free(config *c);

/* ---- config_env.c ------------------------------------------------------ */

/* The value of variable name in envp (first one wins, like getenv), or NULL
 * (also when envp is NULL). */
const char *config_env_get(char *const *envp, const char *name);

/* Applies the VAULTCTL_<SECTION>_<KEY> (and ..._FILE) variables of envp. */
vc_code config_apply_env(config_loader *ld, char *const *envp);

#endif
