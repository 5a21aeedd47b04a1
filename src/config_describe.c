/* config_describe.c - the human summary of a loaded configuration that
 * `vaultctl serve --check` prints (config_describe in config.h). It never
 * shows a secret: passwords and tokens only as "set", and credentials in a
 * server URL hidden by redact_urls (redact.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "redact.h"

/* The server list with ", " between the URLs and their credentials
 * hidden. */
static void put_servers(FILE *f, const char *urls)
{
    /* Each URL grows by at most 17 bytes (":(password hidden)" for ":"),
     * and a list of n bytes holds at most n + 1 URLs: never cut. */
    size_t cap = 20 * (strlen(urls) + 1);
    char *shown = malloc(cap);
    if (shown == NULL) {
        fputs("(out of memory)", f);
        return;
    }
    redact_urls(urls, shown, cap);
    for (const char *p = shown; *p != '\0'; p++) {
        if (*p == ',')
            fputs(", ", f);
        else
            fputc(*p, f);
    }
    free(shown);
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
    put_servers(f, c->nats_url);
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
            config_fmt_size(a, sizeof a, c->storage_map_size));
    if (c->storage_backend != NULL && strcmp(c->storage_backend, "jetstream") == 0)
        fprintf(f,
                "  backend:  jetstream, stream KV_%s, %d replicas, lease_ttl %llds (%s is "
                "the local cache)\n",
                c->js_bucket, c->js_replicas, (long long)c->js_lease_ttl_s, c->storage_path);
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
        if (c->acl[i].ops == 0 && c->acl[i].tokens)
            fputs("no operations of its own", f);
        else
            put_ops(f, c->acl[i].ops);
        if (c->acl[i].tokens)
            fputs("; tokens accepted", f);
        for (size_t k = 0; k < c->acl[i].nkeys; k++)
            fprintf(f, "%s%s", k == 0 ? "; keys " : ", ", c->acl[i].keys[k]);
        for (size_t k = 0; k < c->acl[i].nusers; k++)
            fprintf(f, "%s%s", k == 0 ? "; only users " : ", ", c->acl[i].users[k]);
        for (size_t k = 0; k < c->acl[i].naccounts; k++)
            fprintf(f, "%s%s", k == 0 ? "; only accounts " : ", ", c->acl[i].accounts[k]);
        fputc('\n', f);
    }
    if (c->identity_request_info)
        fprintf(f,
                "  identity: Nats-Request-Info of requests through a service import (reply "
                "under _R_.)%s%s\n",
                c->acl_identity_account != NULL ? "; not from account " : "",
                c->acl_identity_account != NULL ? c->acl_identity_account : "");
    fprintf(f, "limits:     value %s, request %s, %zu JSON elements\n",
            config_fmt_size(a, sizeof a, c->max_value_bytes),
            config_fmt_size(b, sizeof b, c->max_request_bytes), c->max_json_elements);
    fprintf(f, "service:    %d worker%s, queue of %zu requests or %s\n", c->workers,
            c->workers == 1 ? "" : "s", c->queue_max_requests,
            config_fmt_size(a, sizeof a, c->queue_max_bytes));
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
    fputs("tokens:     default ttl ", f);
    put_duration(f, c->token_default_ttl > 0 ? c->token_default_ttl : 3600);
    fputs(", max ttl ", f);
    put_duration(f, c->token_max_ttl > 0 ? c->token_max_ttl : 86400);
    fputs(", expired tokens purged every 30 s\n", f);
    fputs(c->log_requests ? "log:        a line per request (log.requests)\n"
                          : "log:        events only (log.requests off)\n",
          f);
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
