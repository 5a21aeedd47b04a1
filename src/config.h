/* config.h - the YAML configuration (docs/configuration.md), with defaults,
 * environment overrides VAULTCTL_<SECTION>_<KEY> and, for secret settings,
 * VAULTCTL_<SECTION>_<KEY>_FILE (Docker secrets convention; the file is read
 * under secretfile.h's rule).
 *
 * Every default is in one place, the settings table in config.c
 * (docs/configuration.md lists them); a loaded config always holds a value
 * in range for every numeric setting (service.workers is 1..256, ...).
 *
 * Every error is VC_CONFIG and names the file, the line and the setting, e.g.
 * "/app/config/config.yaml:7: service.workers: expected an integer 1..256,
 * got \"lots\"", or for an environment variable its name (out of memory is
 * VC_INTERNAL).
 */
#ifndef VAULTCTL_CONFIG_H
#define VAULTCTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "err.h"

#define CONFIG_DEFAULT_PATH "/app/config/config.yaml"

typedef enum { AUDIT_BEST_EFFORT = 0, AUDIT_REQUIRED = 1 } config_audit_mode;

/* One role of nats_credentials.roles (PROTOCOL.md §10): the subjects, with
 * {name} where the minted user's name goes, and the lifetimes. */
typedef struct {
    char *name;
    char **publish; /* allow lists; none: that side denies everything */
    size_t npublish;
    char **subscribe;
    size_t nsubscribe;
    int64_t ttl_s;     /* default lifetime (default 15m) */
    int64_t max_ttl_s; /* ceiling of a requested ttl (default 1h) */
} config_creds_role;

typedef struct config {
    char *file; /* the file loaded */

    /* nats: */
    char *nats_url;                                   /* may be a comma-separated list */
    char *nats_user, *nats_pass;                      /* NULL if unset; pass is secret */
    char *nats_token;                                 /* secret */
    char *nats_creds;                                 /* path of a .creds file */
    char *nats_tls_ca, *nats_tls_cert, *nats_tls_key; /* paths */
    char *nats_name;                                  /* connection name */

    /* encryption: */
    char *master_key; /* path of the key file */

    /* storage: */
    char *storage_path;      /* directory of the store */
    size_t storage_map_size; /* bytes (storage.map_size accepts a plain
                                integer or 64MiB/1GiB) */
    char *storage_backend;   /* "lmdb" or "jetstream" */
    char *js_bucket;         /* storage.jetstream.bucket: stream KV_<bucket> */
    int js_replicas;         /* storage.jetstream.replicas */
    int64_t js_lease_ttl_s;  /* storage.jetstream.lease_ttl, seconds */

    /* subjects: */
    char *subject_request; /* listened on; may hold wildcards */
    char *subject_reply;   /* for requests without a reply subject */
    char *reply_prefixes;  /* subjects.reply_prefixes, comma-separated, each
                              ending in '.' */

    /* acl: (subject strings owned by the config) */
    acl_rule *acl;
    size_t acl_count;

    /* limits: */
    size_t max_value_bytes;
    size_t max_request_bytes; /* unset: derived from max_value_bytes */
    size_t max_json_elements; /* {, [, ',' and ':' outside strings */

    /* service: */
    int workers;               /* service.workers, 1..256 */
    size_t queue_max_requests; /* queued requests */
    size_t queue_max_bytes;    /* their payload bytes */

    /* audit: */
    char *audit_subject; /* "" disables */
    config_audit_mode audit_mode;
    size_t audit_buffer; /* best_effort queue length */
    /* audit.nats.*: the audit connection's own login (NULL: the service's) */
    char *audit_nats_user, *audit_nats_pass; /* pass is secret */
    char *audit_nats_token;                  /* secret */
    char *audit_nats_creds;                  /* path of a .creds file */

    /* nats_credentials: (config_creds.c) */
    char *creds_account;     /* A... public key; NULL: creds is off */
    char *creds_signing_key; /* path of the seed file (SA...) */
    config_creds_role *creds_roles;
    size_t creds_nroles;
    /* revoke with public_key (PROTOCOL.md §10): all three or none */
    char *creds_operator_key; /* nats_credentials.operator_signing_key: seed
                                 file (SO...) that signs the account JWT */
    char *creds_system_creds; /* nats_credentials.system_creds: .creds of a
                                 system-account user */
    char *creds_account_jwt;  /* nats_credentials.account_jwt: the account's
                                 JWT as the operator issued it (a file) */
    /* acl_identity (PROTOCOL.md §11, identity.h): */
    bool identity_request_info; /* acl_identity: request_info (else none) */
    char *acl_identity_mode;    /* the setting's text; NULL: none */
    char *acl_identity_account; /* the vault's own account (name or A...):
                                   a header naming it proves nothing */

    /* rotation: */
    int64_t rotation_interval_s; /* rotation.interval ("24h", "90m", "3600s",
                                    "7d", or seconds); 0 = off */

    /* log: */
    bool log_requests; /* log.requests: one line per request */

    /* history: */
    size_t history_max_versions; /* versions kept per key, the current one
                                    included (1..1000) */

    /* tokens: */
    int64_t token_default_ttl; /* tokens.default_ttl, seconds (1h) */
    int64_t token_max_ttl;     /* tokens.max_ttl, seconds (24h) */
} config;

/* Loads the configuration: path if not NULL, else $VAULTCTL_CONFIG if set,
 * else CONFIG_DEFAULT_PATH. envp is the environment to apply overrides from
 * (NULL-terminated "NAME=value" array; pass `environ`). Unknown keys are an
 * error (a typo must not silently become a default). On success *out is
 * owned by the caller (config_free). */
vc_code config_load(config **out, const char *path, char *const *envp, vc_err *err);

/* Same from YAML text in memory; name is used as the file in messages. */
vc_code config_load_string(config **out, const char *name, const char *yaml, size_t len,
                           char *const *envp, vc_err *err);

/* Wipes secret settings and frees; NULL is fine. */
void config_free(config *c);

/* A multi-line, human summary of what the service would do with c (servers,
 * kind of login, subjects, each ACL rule, storage, limits, workers, audit,
 * rotation) for `vaultctl serve --check`. It never holds a secret: no
 * password or token, and a user:password@ or token@ in a URL is hidden
 * (redact.h).
 * Returns a malloc'd string the caller frees, or NULL if out of memory. */
char *config_describe(const config *c);

#endif
