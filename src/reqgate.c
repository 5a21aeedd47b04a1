/* reqgate.c - which arriving messages the service acts on (see reqgate.h). */
#include "reqgate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "log.h"
#include "natsmsg.h"

struct reqgate {
    const config *cfg;
    /* subjects.reply_prefixes, split (pointers into prefix_text) */
    char *prefix_text;
    const char **prefixes;
    size_t nprefixes;
    /* a subject or reply subject holding a NUL, a control byte, a space or
     * invalid UTF-8 */
    atomic_uint_fast64_t dropped_subject;
    /* ... or a reply subject the service does not publish to */
    atomic_uint_fast64_t dropped_reply;
    /* the drop log's rate limit: lines this second, and drops not logged
     * since the last line */
    pthread_mutex_t log_lock;
    int64_t log_second;
    int log_lines;
    uint64_t log_skipped;
};

reqgate *reqgate_create(const config *cfg)
{
    reqgate *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->cfg = cfg;
    pthread_mutex_init(&g->log_lock, NULL);
    /* subjects.reply_prefixes, split once ("a.,b." -> "a.", "b."). */
    g->prefix_text = strdup(cfg->reply_prefixes != NULL ? cfg->reply_prefixes : "_INBOX.");
    g->prefixes =
        calloc(g->prefix_text != NULL ? strlen(g->prefix_text) / 2 + 1 : 1, sizeof *g->prefixes);
    if (g->prefix_text == NULL || g->prefixes == NULL) {
        reqgate_free(g);
        return NULL;
    }
    for (char *save = NULL, *tok = strtok_r(g->prefix_text, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
        g->prefixes[g->nprefixes++] = tok;
    return g;
}

void reqgate_free(reqgate *g)
{
    if (g == NULL)
        return;
    free(g->prefixes);
    free(g->prefix_text);
    pthread_mutex_destroy(&g->log_lock);
    free(g);
}

/* Logs one dropped request (why; its subject and reply escaped, log.h),
 * at most REQGATE_LOG_PER_S lines a second; the next line says how many
 * were not logged. total is the drop counter after this drop. */
static void reqgate_log(reqgate *g, const char *why, const char *subj, size_t slen,
                        const char *reply, size_t rlen, uint64_t total)
{
    char es[LOG_ESCAPED_MAX(256)], er[LOG_ESCAPED_MAX(256)];
    int64_t now = nats_Now() / 1000;
    uint64_t skipped = 0;
    bool line;

    pthread_mutex_lock(&g->log_lock);
    if (now != g->log_second) {
        g->log_second = now;
        g->log_lines = 0;
    }
    line = g->log_lines < REQGATE_LOG_PER_S;
    if (line) {
        g->log_lines++;
        skipped = g->log_skipped;
        g->log_skipped = 0;
    } else {
        g->log_skipped++;
    }
    pthread_mutex_unlock(&g->log_lock);
    if (!line)
        return;
    log_escape(es, sizeof es, subj, slen);
    if (reply != NULL)
        log_escape(er, sizeof er, reply, rlen);
    log_warn("request dropped, not executed: %s: subject=\"%s\" reply=\"%s\" (%llu dropped so "
             "far, %llu more not logged before this line)",
             why, es, reply != NULL ? er : "", (unsigned long long)total,
             (unsigned long long)skipped);
}

bool reqgate_reply_ok(const reqgate *g, const char *reply)
{
    const config *c = g->cfg;
    bool prefixed = false;

    for (size_t i = 0; i < g->nprefixes && !prefixed; i++)
        prefixed = strncmp(reply, g->prefixes[i], strlen(g->prefixes[i])) == 0;
    if (!prefixed || strncmp(reply, "$SRV.", 5) == 0 || strcmp(reply, "$SRV") == 0 ||
        strcmp(reply, c->subject_reply) == 0 ||
        (c->audit_subject != NULL && strcmp(reply, c->audit_subject) == 0) ||
        acl_subject_matches(c->subject_request, reply))
        return false;
    for (size_t i = 0; i < c->acl_count; i++)
        if (acl_subject_matches(c->acl[i].subject, reply))
            return false;
    return true;
}

bool reqgate_admit(reqgate *g, natsMsg *msg, size_t *slen, size_t *rlen)
{
    const char *subject = natsMsg_GetSubject(msg), *reply = natsMsg_GetReply(msg);
    bool known = natsmsg_lengths(msg, slen, rlen);

    if (!known || !natsmsg_subject_clean(subject, *slen) ||
        (reply != NULL && !natsmsg_subject_clean(reply, *rlen))) {
        uint64_t n = atomic_fetch_add(&g->dropped_subject, 1) + 1;
        reqgate_log(g,
                    !known ? "subject of unknown length"
                           : "subject or reply holds a NUL, control byte, space or invalid UTF-8",
                    subject, known ? *slen : strlen(subject), reply,
                    reply == NULL ? 0
                    : known       ? *rlen
                                  : strlen(reply),
                    n);
        return false;
    }
    /* A reply subject the service does not publish to: not executed. */
    if (reply != NULL && !reqgate_reply_ok(g, reply)) {
        uint64_t n = atomic_fetch_add(&g->dropped_reply, 1) + 1;
        reqgate_log(g, "reply subject outside subjects.reply_prefixes, or one of the service's own",
                    subject, *slen, reply, *rlen, n);
        return false;
    }
    /* Never answer our own output: an ACL wildcard such as "vault.>" also
     * covers the reply and audit subjects, and answering them would loop. */
    if (strcmp(subject, g->cfg->subject_reply) == 0 ||
        (g->cfg->audit_subject != NULL && strcmp(subject, g->cfg->audit_subject) == 0))
        return false;
    return true;
}

bool reqgate_srv_reply_ok(reqgate *g, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    size_t slen = 0, rlen = 0;

    if (natsmsg_lengths(msg, &slen, &rlen) && natsmsg_subject_clean(reply, rlen) &&
        reqgate_reply_ok(g, reply))
        return true;
    uint64_t n = atomic_fetch_add(&g->dropped_reply, 1) + 1;
    reqgate_log(g, "service API request with a reply subject the service does not publish to",
                natsMsg_GetSubject(msg), strlen(natsMsg_GetSubject(msg)), reply, strlen(reply), n);
    return false;
}

json_t *reqgate_status(const reqgate *g)
{
    return json_pack("{s:I,s:I}", "bad_subject", (json_int_t)atomic_load(&g->dropped_subject),
                     "bad_reply", (json_int_t)atomic_load(&g->dropped_reply));
}
