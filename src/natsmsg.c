/* natsmsg.c - true subject lengths of received messages (see natsmsg.h). */
#include "natsmsg.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

#define HDR_START "NATS/"
#define HDR_END   "\r\n\r\n"

/* s is the last string before the data (at data), NUL-terminated by nats.c
 * somewhere before data. Its true length, or SIZE_MAX when the bytes after
 * its first NUL are neither nothing nor one header block (see natsmsg.h). */
static size_t last_len(const char *s, const char *data)
{
    size_t n = strnlen(s, (size_t)(data - s));
    const char *rest = s + n + 1, *end = data - 1; /* end: the NUL before data */

    if (s + n >= data)
        return SIZE_MAX; /* no NUL before the data: not the layout we know */
    if (rest == data)
        return n; /* nothing between the string and the data */
    /* A header block: "NATS/" ... "\r\n\r\n", then the NUL before data, and
     * no NUL inside. */
    if (rest > end || *end != '\0' || (size_t)(end - rest) < sizeof HDR_START - 1 + 4 ||
        memcmp(rest, HDR_START, sizeof HDR_START - 1) != 0 || memcmp(end - 4, HDR_END, 4) != 0 ||
        memchr(rest, '\0', (size_t)(end - rest)) != NULL)
        return SIZE_MAX;
    return n;
}

bool natsmsg_lengths(const natsMsg *m, size_t *subject_len, size_t *reply_len)
{
    const char *subj = natsMsg_GetSubject(m), *reply = natsMsg_GetReply(m);
    const char *data = natsMsg_GetData(m);
    size_t n;

    *subject_len = 0;
    *reply_len = 0;
    if (subj == NULL || data == NULL || data <= subj)
        return false;
    if (reply != NULL) {
        if (reply <= subj || reply >= data || reply[-1] != '\0')
            return false;
        *subject_len = (size_t)(reply - subj - 1);
        n = last_len(reply, data);
        if (n == SIZE_MAX)
            return false;
        *reply_len = n;
        return true;
    }
    n = last_len(subj, data);
    if (n == SIZE_MAX)
        return false;
    *subject_len = n;
    return true;
}

bool natsmsg_subject_clean(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL || len == 0)
        return false;
    for (size_t i = 0; i < len;) {
        if (p[i] <= 0x20 || p[i] == 0x7f)
            return false;
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* One message made by natsMsg_Create reads back as it was made. */
static bool check_one(const char *subj, const char *reply, const char *data, int dlen)
{
    natsMsg *m = NULL;
    size_t sl = 0, rl = 0;
    bool ok;

    if (natsMsg_Create(&m, subj, reply, data, dlen) != NATS_OK)
        return false;
    const char *ms = natsMsg_GetSubject(m), *mr = natsMsg_GetReply(m), *md = natsMsg_GetData(m);
    size_t slen = strlen(subj), rlen = reply != NULL ? strlen(reply) : 0;
    /* Contiguous: subject NUL [reply NUL] data NUL. */
    ok = ms != NULL && md != NULL && memcmp(ms, subj, slen + 1) == 0 &&
         (reply == NULL
              ? mr == NULL && md == ms + slen + 1
              : mr == ms + slen + 1 && memcmp(mr, reply, rlen + 1) == 0 && md == mr + rlen + 1) &&
         natsMsg_GetDataLength(m) == dlen && memcmp(md, data, (size_t)dlen) == 0 &&
         md[dlen] == '\0';
    ok = ok && natsmsg_lengths(m, &sl, &rl) && sl == slen && rl == rlen;
    natsMsg_Destroy(m);
    return ok;
}

vc_code natsmsg_self_check(vc_err *err)
{
    /* natsMsg_Destroy needs the library open (its garbage collector).
     * Opened without lock spinning: by default nats.c spins up to 2000
     * times (a pause each) on every contended lock before it sleeps, which
     * on a small, shared machine burns the CPU the lock's holder needs
     * (measured: ~13 % less CPU per get at 1 in flight, ~5 % at 64, same
     * throughput). The first nats_Open sets it for the process. */
    if (nats_Open(0) != NATS_OK)
        return vc_errf(err, VC_INTERNAL, "nats.c: cannot initialise the library");
    if (check_one("vault.requests", "_INBOX.self.check", "{\"operation\":\"status\"}", 22) &&
        check_one("vault.requests", NULL, "{}", 2) && check_one("a", "b", "", 0) &&
        check_one("a.b", NULL, "", 0))
        return VC_OK;
    return vc_errf(err, VC_INTERNAL,
                   "the linked nats.c (%s) does not lay out a message's subject, reply and "
                   "data as vaultctl was built for (nats.c 3.4.1: one block, each NUL-"
                   "terminated); it could not tell a subject holding a NUL byte from a shorter "
                   "one, so it will not serve",
                   nats_GetVersion());
}
