/* config.h - the YAML configuration (PROTOCOL.md section 4), with defaults,
 * environment overrides VAULTCTL_<SECTION>_<KEY> and, for secret settings,
 * VAULTCTL_<SECTION>_<KEY>_FILE (Docker secrets convention).
 *
 * Every error is VC_CONFIG and names the file, the line and the setting, e.g.
 * "/app/config/config.yaml:7: limits.max_value_bytes: expected a positive
 * integer, got \"lots\"", or for an environment variable its name.
 */
#ifndef VAULTCTL_CONFIG_H
#define VAULTCTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "err.h"

#define CONFIG_DEFAULT_PATH      "/app/config/config.yaml"
#define CONFIG_DEFAULT_MAX_VALUE ((size_t)256 * 1024)

typedef enum { AUDIT_BEST_EFFORT = 0, AUDIT_REQUIRED = 1 } config_audit_mode;

typedef struct {
    char *file; /* the file loaded */

    /* nats: */
    char *nats_url;                                   /* default "nats://127.0.0.1:4222"; may be a
                                                         comma-separated list */
    char *nats_user, *nats_pass;                      /* NULL if unset; pass is secret */
    char *nats_token;                                 /* secret */
    char *nats_creds;                                 /* path of a .creds file */
    char *nats_tls_ca, *nats_tls_cert, *nats_tls_key; /* paths */
    char *nats_name;                                  /* connection name, default "vaultctl" */

    /* encryption: */
    char *master_key; /* path, default "/app/config/master.key" */

    /* storage: */
    char *storage_path;      /* default "/app/data" */
    size_t storage_map_size; /* bytes; default 1 GiB (storage.map_size,
                                accepts a plain integer or 64MiB/1GiB) */

    /* subjects: */
    char *subject_request; /* default "vault.requests" */
    char *subject_reply;   /* default "vault.replies" */
    char *reply_prefixes;  /* subjects.reply_prefixes, comma-separated, each
                              ending in '.'; default "_INBOX." */

    /* acl: (subject strings owned by the config) */
    acl_rule *acl;
    size_t acl_count;

    /* limits: */
    size_t max_value_bytes;   /* default CONFIG_DEFAULT_MAX_VALUE */
    size_t max_request_bytes; /* default max_value_bytes + 64 KiB */
    size_t max_json_elements; /* {, [, ',' and ':' outside strings; 4096 */

    /* service: */
    int workers;               /* service.workers, default 4 */
    size_t queue_max_requests; /* queued requests, default 4096 */
    size_t queue_max_bytes;    /* their payload bytes, default 64 MiB */

    /* audit: */
    char *audit_subject;          /* default "vault.audit"; "" disables */
    config_audit_mode audit_mode; /* default best_effort */
    size_t audit_buffer;          /* best_effort queue length, default 4096 */
    /* audit.nats.*: the audit connection's own login (NULL: the service's) */
    char *audit_nats_user, *audit_nats_pass; /* pass is secret */
    char *audit_nats_token;                  /* secret */
    char *audit_nats_creds;                  /* path of a .creds file */

    /* rotation: */
    int64_t rotation_interval_s; /* rotation.interval ("24h", "90m", "3600s",
                                    "7d", or seconds); 0 = off (default) */
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
 * password or token, and a user:password@ or token@ in a URL is hidden.
 * Returns a malloc'd string the caller frees, or NULL if out of memory. */
char *config_describe(const config *c);

#endif
