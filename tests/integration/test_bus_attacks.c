/* test_bus_attacks.c - an attacker on the bus (issue 11, items 1, 2 and 6),
 * over a real nats-server 2.9.10 and the real `vaultctl serve`.
 *
 * The server's users here: `apps` may publish only on
 * apps.*.readonly.requests (and subscribe to its inboxes), admin as in the
 * example, vault subscribing to apps.> as well, probe anywhere. The ACL is
 * narrow before broad, as the docs advise:
 *   apps.*.readonly.requests: [get]   then   apps.>: [all]
 *
 *   nul subject   A raw client (nats.c will not send such a subject) sends
 *                 set, list, rotate, delete on "apps.x<NUL>.readonly.requests"
 *                 (with and without a reply, and with headers). Before the
 *                 fix vaultctl read "apps.x", which apps.> allows: they ran.
 *                 Now: no reply, no effect, counted in status, logged with
 *                 the NUL escaped. A proper apps.x.readonly.requests get
 *                 still works, a set there is still denied.
 *   escape        a subject with an ESC sequence (and DEL, invalid UTF-8) is dropped
 *                 too; the log shows it as \x1b text and holds no raw
 *                 control byte at all.
 *   audit user    (item 2) the vault user may not publish on vault.audit;
 *                 events still arrive there, sent as the audit user.
 *   reply prefix  (item 2) a request whose reply subject is vault.audit, an
 *                 ACL subject or $SRV.PING is not executed, and nothing is
 *                 published there; _INBOX. works.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define APPS_USER  "apps"
#define APPS_PASS  "apps-test-pw"
#define AUDIT_USER "audit"
#define AUDIT_PASS "audit-test-pw"

/* The users, as examples/nats-server.conf sets them up. On the jetstream
 * backend (VAULTCTL_IT_BACKEND=jetstream) the vault user also gets what that
 * file grants it there: the JetStream API and flow control, the bucket's
 * subjects, and the forwarded-write subjects _VAULTCTL.>, which only it may
 * use. */
#define USERS(VAULT_PUB_EXTRA, VAULT_SUB_EXTRA)                                                    \
    "{ user: \"" IT_ADMIN_USER "\", password: \"" IT_ADMIN_PASS "\",\n"                            \
    "  permissions: { publish: { allow: [\"admin.requests\", \"$SRV.>\"] },\n"                     \
    "                 subscribe: { allow: [\"_INBOX.admin.>\", \"vault.replies\", "                \
    "\"vault.audit\"] "                                                                            \
    "} "                                                                                           \
    "} }\n"                                                                                        \
    "{ user: \"" APPS_USER "\", password: \"" APPS_PASS "\",\n"                                    \
    "  permissions: { publish: { allow: [\"apps.*.readonly.requests\"] },\n"                       \
    "                 subscribe: { allow: [\"_INBOX.apps.>\"] } } }\n"                             \
    "{ user: \"" IT_VAULT_USER "\", password: \"" IT_VAULT_PASS "\",\n"                            \
    "  permissions: { publish: { allow: [\"vault.replies\"" VAULT_PUB_EXTRA "] },\n"               \
    "                 subscribe: { allow: [\"vault.requests\", \"admin.requests\", \"apps.>\", "   \
    "\"$SRV.>\"" VAULT_SUB_EXTRA "] },\n"                                                          \
    "                 allow_responses: { max: 1, expires: \"1m\" } } }\n"                          \
    "{ user: \"" AUDIT_USER "\", password: \"" AUDIT_PASS "\",\n"                                  \
    "  permissions: { publish: { allow: [\"vault.audit\"] }, subscribe: { deny: [\">\"] } } }\n"   \
    "{ user: \"" IT_PROBE_USER "\", password: \"" IT_PROBE_PASS "\",\n"                            \
    "  permissions: { publish: { allow: [\">\"] }, subscribe: { allow: [\">\"] } } }\n"

static const char users_lmdb[] = USERS("", "");
static const char users_jetstream[] =
    USERS(", \"$JS.API.>\", \"$JS.FC.>\", \"$KV.vaultctl.>\", \"_VAULTCTL.*.write.*\"",
          ", \"_VAULTCTL.>\"");

static const char acl[] = "acl:\n"
                          "  - subject: admin.requests\n"
                          "    operations: [all]\n"
                          "  - subject: apps.*.readonly.requests\n"
                          "    operations: [get]\n"
                          "  - subject: apps.>\n"
                          "    operations: [all]\n";

static it_nats nats;
static it_vault vault;
static natsConnection *admin, *probe, *apps;

/* ---- files -------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf != NULL) {
            buf[n] = '\0';
            if (len != NULL)
                *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Replaces the harness's ACL (from "acl:" to the end) with ours. */
static int set_acl(const char *path)
{
    char *text = read_all(path, NULL);
    char *at = text != NULL ? strstr(text, "acl:\n") : NULL;
    FILE *f;
    if (at == NULL) {
        free(text);
        return -1;
    }
    *at = '\0';
    f = fopen(path, "w");
    if (f == NULL) {
        free(text);
        return -1;
    }
    fputs(text, f);
    fputs(acl, f);
    /* Events go out as the audit user: the vault user may not publish on
     * vault.audit here (item 2). */
    fputs("audit:\n  nats:\n    user: " AUDIT_USER "\n    pass: " AUDIT_PASS "\n", f);
    fclose(f);
    free(text);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (it_nats_start_users(&nats, 0, it_jetstream() ? users_jetstream : users_lmdb) != 0)
        return -1;
    if (it_vault_init(&vault, &nats, NULL) != 0 || set_acl(vault.config) != 0)
        return -1;
    if (it_vault_start(&vault, &nats) != 0)
        return -1;
    admin = it_connect(&nats, IT_ADMIN_USER, IT_ADMIN_PASS);
    probe = it_connect(&nats, IT_PROBE_USER, IT_PROBE_PASS);
    apps = it_connect(&nats, APPS_USER, APPS_PASS);
    return admin && probe && apps ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(admin);
    natsConnection_Destroy(probe);
    natsConnection_Destroy(apps);
    it_vault_destroy(&vault);
    it_nats_destroy(&nats);
    return 0;
}

/* ---- a raw NATS client: sends subjects nats.c would refuse --------------- */

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} raw_client;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_send(raw_client *r, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more into the buffer, waiting until deadline; 0 on data. */
static int raw_fill(raw_client *r, int64_t deadline)
{
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    int64_t left = deadline - now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
        return -1;
    ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
    if (n <= 0)
        return -1;
    r->len += (size_t)n;
    return 0;
}

/* One protocol line (without \r\n) into line; answers PINGs. 0 on success. */
static int raw_line(raw_client *r, char *line, size_t cap, int64_t deadline)
{
    for (;;) {
        char *eol = memmem(r->buf, r->len, "\r\n", 2);
        if (eol != NULL) {
            size_t n = (size_t)(eol - r->buf);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(line, r->buf, k);
            line[k] = '\0';
            memmove(r->buf, eol + 2, r->len - n - 2);
            r->len -= n + 2;
            if (strcmp(line, "PING") == 0) {
                raw_send(r, "PONG\r\n", 6);
                continue;
            }
            return 0;
        }
        if (raw_fill(r, deadline) != 0)
            return -1;
    }
}

static int raw_connect(raw_client *r, int port, const char *user, const char *pass)
{
    struct sockaddr_in a = {0};
    char line[4096], cmd[512];
    int64_t deadline = now_ms() + 5000;

    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    if (raw_line(r, line, sizeof line, deadline) != 0 || strncmp(line, "INFO ", 5) != 0)
        return -1;
    snprintf(cmd, sizeof cmd,
             "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":\"%s\","
             "\"headers\":true,\"no_responders\":false,\"protocol\":1}\r\nPING\r\n",
             user, pass);
    if (raw_send(r, cmd, strlen(cmd)) != 0)
        return -1;
    while (raw_line(r, line, sizeof line, deadline) == 0) {
        if (strcmp(line, "PONG") == 0)
            return 0;
        if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "raw client: %s\n", line);
            return -1;
        }
    }
    return -1;
}

static void raw_close(raw_client *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* PUB (or HPUB with a small header block when hdr) with a subject of slen
 * bytes, which may hold any byte but space and CR LF; then PING, and waits
 * for the PONG so the server has taken it (an -ERR fails the test). */
static void raw_pub(raw_client *r, const char *subj, size_t slen, const char *reply,
                    const char *payload, bool hdr)
{
    static const char headers[] = "NATS/1.0\r\nX-Test: 1\r\n\r\n";
    char head[1024], line[4096];
    size_t plen = strlen(payload), n = 0;
    int64_t deadline = now_ms() + 5000;

    memcpy(head, hdr ? "HPUB " : "PUB ", hdr ? 5 : 4);
    n = hdr ? 5 : 4;
    memcpy(head + n, subj, slen);
    n += slen;
    if (hdr)
        n += (size_t)snprintf(head + n, sizeof head - n, " %s%s%zu %zu\r\n", reply ? reply : "",
                              reply ? " " : "", sizeof headers - 1, sizeof headers - 1 + plen);
    else
        n += (size_t)snprintf(head + n, sizeof head - n, " %s%s%zu\r\n", reply ? reply : "",
                              reply ? " " : "", plen);
    assert_int_equal(raw_send(r, head, n), 0);
    if (hdr)
        assert_int_equal(raw_send(r, headers, sizeof headers - 1), 0);
    assert_int_equal(raw_send(r, payload, plen), 0);
    assert_int_equal(raw_send(r, "\r\nPING\r\n", 8), 0);
    for (;;) {
        assert_int_equal(raw_line(r, line, sizeof line, deadline), 0);
        if (strncmp(line, "-ERR", 4) == 0)
            fail_msg("nats-server refused the publish: %s", line);
        if (strcmp(line, "PONG") == 0)
            break;
        /* a MSG here would be a reply: keep it for raw_expect_none */
        if (strncmp(line, "MSG ", 4) == 0 || strncmp(line, "HMSG ", 5) == 0)
            fail_msg("a reply came back: %s", line);
    }
}

/* Fails if any message arrives within ms. */
static void raw_expect_none(raw_client *r, int ms, const char *what)
{
    char line[4096];
    int64_t deadline = now_ms() + ms;
    while (raw_line(r, line, sizeof line, deadline) == 0) {
        if (strncmp(line, "MSG ", 4) == 0 || strncmp(line, "HMSG ", 5) == 0)
            fail_msg("%s: a reply came back (%s): the request was answered", what, line);
    }
}

/* ---- helpers -------------------------------------------------------------- */

static json_t *admin_req(const char *payload)
{
    json_t *r = it_request(admin, "admin.requests", payload, 10000, NULL);
    if (r == NULL)
        it_vault_dump_log(&vault);
    assert_non_null(r);
    return r;
}

static json_t *status_data(void)
{
    json_t *r = admin_req("{\"operation\":\"status\"}");
    json_t *d = json_incref(json_object_get(r, "data"));
    json_decref(r);
    assert_non_null(d);
    return d;
}

static long long dropped(const char *kind)
{
    json_t *d = status_data();
    json_t *n = json_object_get(json_object_get(d, "dropped"), kind);
    long long v = json_is_integer(n) ? (long long)json_integer_value(n) : -1;
    json_decref(d);
    return v;
}

static bool key_exists(const char *key)
{
    char p[256];
    snprintf(p, sizeof p, "{\"operation\":\"get\",\"key\":\"%s\"}", key);
    json_t *r = admin_req(p);
    bool ok = strcmp(it_status(r), "success") == 0;
    json_decref(r);
    return ok;
}

/* ---- item 1: a NUL in the subject ------------------------------------------ */

static void test_nul_subject_bypass(void **state)
{
    (void)state;
    raw_client rc;
    static const char subj[] = "apps.x\0.readonly.requests";
    const size_t slen = sizeof subj - 1;

    json_decref(admin_req("{\"operation\":\"set\",\"key\":\"nul/target\",\"value\":\"keep\"}"));
    json_t *d = status_data();
    long long kv = (long long)json_integer_value(json_object_get(d, "key_version"));
    json_decref(d);
    long long before = dropped("bad_subject");

    assert_int_equal(raw_connect(&rc, nats.port, APPS_USER, APPS_PASS), 0);
    assert_int_equal(raw_send(&rc, "SUB _INBOX.apps.raw.> 1\r\n", 25), 0);
    raw_pub(&rc, subj, slen, "_INBOX.apps.raw.1",
            "{\"operation\":\"set\",\"key\":\"nul/evil\",\"value\":\"pwned\"}", false);
    raw_pub(&rc, subj, slen, "_INBOX.apps.raw.2", "{\"operation\":\"list\"}", false);
    raw_pub(&rc, subj, slen, "_INBOX.apps.raw.3", "{\"operation\":\"rotate\"}", false);
    raw_pub(&rc, subj, slen, "_INBOX.apps.raw.4",
            "{\"operation\":\"delete\",\"key\":\"nul/target\"}", false);
    /* Without a reply (the reply would go to vault.replies), and with
     * headers: the other two layouts natsmsg_lengths reads. */
    raw_pub(&rc, subj, slen, NULL, "{\"operation\":\"set\",\"key\":\"nul/evil2\",\"value\":1}",
            false);
    raw_pub(&rc, subj, slen, "_INBOX.apps.raw.5",
            "{\"operation\":\"set\",\"key\":\"nul/evil3\",\"value\":1}", true);
    raw_pub(&rc, subj, slen, NULL, "{\"operation\":\"set\",\"key\":\"nul/evil4\",\"value\":1}",
            true);
    raw_expect_none(&rc, 1500, "set/list/rotate/delete on apps.x<NUL>.readonly.requests");

    /* Nothing ran. */
    assert_false(key_exists("nul/evil"));
    assert_false(key_exists("nul/evil2"));
    assert_false(key_exists("nul/evil3"));
    assert_false(key_exists("nul/evil4"));
    assert_true(key_exists("nul/target"));
    d = status_data();
    assert_int_equal((long long)json_integer_value(json_object_get(d, "key_version")), kv);
    json_decref(d);
    /* Counted: the service subscribes to apps.*.readonly.requests and
     * apps.>, so nats-server may deliver each one twice. */
    long long after = dropped("bad_subject");
    fprintf(stderr, "nul subject: dropped.bad_subject %lld -> %lld\n", before, after);
    assert_true(after - before >= 7);

    /* The same requests on the true subject: get allowed, set denied. */
    json_t *r = it_request(apps, "apps.x.readonly.requests",
                           "{\"operation\":\"get\",\"key\":\"nul/target\"}", 10000, NULL);
    assert_non_null(r);
    assert_string_equal(it_status(r), "success");
    json_decref(r);
    r = it_request(apps, "apps.x.readonly.requests",
                   "{\"operation\":\"set\",\"key\":\"nul/evil\",\"value\":1}", 10000, NULL);
    assert_non_null(r);
    assert_string_equal(it_code(r), "access_denied");
    json_decref(r);
    raw_close(&rc);

    /* Logged, with the NUL escaped. */
    char *log = read_all(vault.log, NULL);
    assert_non_null(log);
    if (strstr(log, "subject=\"apps.x\\x00.readonly.requests\"") == NULL) {
        it_vault_dump_log(&vault);
        fail_msg("no log line with the escaped subject apps.x\\x00.readonly.requests");
    }
    free(log);
}

/* ---- item 6: control bytes never reach the log ----------------------------- */

static void test_control_bytes_escaped(void **state)
{
    (void)state;
    raw_client rc;
    static const char esc[] = "apps.\x1b[2J\x1b[31mred\x7f.readonly.requests";
    static const char bad8[] = "apps.\xc3\x28.readonly.requests";
    long long before = dropped("bad_subject");

    assert_int_equal(raw_connect(&rc, nats.port, APPS_USER, APPS_PASS), 0);
    assert_int_equal(raw_send(&rc, "SUB _INBOX.apps.raw.> 1\r\n", 25), 0);
    raw_pub(&rc, esc, sizeof esc - 1, "_INBOX.apps.raw.e", "{\"operation\":\"get\",\"key\":\"k\"}",
            false);
    raw_pub(&rc, bad8, sizeof bad8 - 1, "_INBOX.apps.raw.u",
            "{\"operation\":\"get\",\"key\":\"k\"}", false);
    /* A clean subject with a reply holding an ESC. */
    raw_pub(&rc, "apps.x.readonly.requests", 24, "_INBOX.apps.\x1b[31m",
            "{\"operation\":\"get\",\"key\":\"k\"}", false);
    raw_expect_none(&rc, 1000, "requests on subjects with control bytes");
    raw_close(&rc);
    long long after = dropped("bad_subject");
    fprintf(stderr, "control bytes: dropped.bad_subject %lld -> %lld\n", before, after);
    /* (A tab or space cannot be sent: nats-server takes it as a separator.) */
    assert_true(after - before >= 3);

    size_t len = 0;
    char *log = read_all(vault.log, &len);
    assert_non_null(log);
    assert_non_null(strstr(log, "subject=\"apps.\\x1b[2J\\x1b[31mred\\x7f.readonly.requests\""));
    assert_non_null(strstr(log, "apps.\\xc3(.readonly.requests"));
    assert_non_null(strstr(log, "reply=\"_INBOX.apps.\\x1b[31m\""));
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)log[i] < 0x20 && log[i] != '\n') || (unsigned char)log[i] >= 0x7f) {
            it_vault_dump_log(&vault);
            fail_msg("the log holds the raw byte 0x%02x at offset %zu", (unsigned char)log[i], i);
        }
    free(log);
}

/* ---- item 2: replies only under the reply prefixes -------------------------- */

/* Collects what arrives on sub for ms; fails if a message is a reply (a
 * vaultctl reply object, or a service API response). */
static void expect_no_reply_on(natsSubscription *sub, int ms, const char *subject)
{
    natsMsg *m = NULL;
    int64_t deadline = now_ms() + ms;
    for (int64_t left; (left = deadline - now_ms()) > 0;) {
        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            break;
        const char *d = natsMsg_GetData(m);
        if (d != NULL && (strncmp(d, "{\"status\"", 9) == 0 || strstr(d, "_response") != NULL))
            fail_msg("a reply was published on %s: %.200s", subject, d);
        natsMsg_Destroy(m);
    }
}

static void test_reply_prefixes(void **state)
{
    (void)state;
    static const char *const targets[] = {"vault.audit", "apps.y.readonly.requests", "$SRV.PING",
                                          "vault.replies", "other.subject"};
    natsSubscription *subs[5] = {0};
    long long before = dropped("bad_reply");

    for (int i = 0; i < 5; i++)
        assert_int_equal(natsConnection_SubscribeSync(&subs[i], probe, targets[i]), NATS_OK);
    assert_int_equal(natsConnection_Flush(probe), NATS_OK);
    for (int i = 0; i < 5; i++) {
        char p[128];
        snprintf(p, sizeof p, "{\"operation\":\"set\",\"key\":\"reply/%d\",\"value\":\"v\"}", i);
        assert_int_equal(
            natsConnection_PublishRequestString(admin, "admin.requests", targets[i], p), NATS_OK);
    }
    /* A service API request with a reply there too. */
    assert_int_equal(natsConnection_PublishRequestString(admin, "$SRV.PING", "vault.audit", ""),
                     NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    for (int i = 0; i < 5; i++)
        expect_no_reply_on(subs[i], i == 0 ? 1500 : 200, targets[i]);
    for (int i = 0; i < 5; i++) {
        char k[32];
        snprintf(k, sizeof k, "reply/%d", i);
        if (key_exists(k))
            fail_msg("the set with reply subject %s was executed", targets[i]);
        natsSubscription_Destroy(subs[i]);
    }
    long long after = dropped("bad_reply");
    fprintf(stderr, "reply prefixes: dropped.bad_reply %lld -> %lld\n", before, after);
    assert_true(after - before >= 6);

    /* An _INBOX. reply works, as does no reply at all (vault.replies). */
    json_t *r = admin_req("{\"operation\":\"set\",\"key\":\"reply/ok\",\"value\":1}");
    assert_string_equal(it_status(r), "success");
    json_decref(r);
    natsSubscription *on_replies = NULL;
    natsMsg *m = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&on_replies, admin, "vault.replies"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    assert_int_equal(natsConnection_PublishString(admin, "admin.requests",
                                                  "{\"operation\":\"status\",\"id\":\"nr\"}"),
                     NATS_OK);
    assert_int_equal(natsSubscription_NextMsg(&m, on_replies, 10000), NATS_OK);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(on_replies);
}

/* Events reach vault.audit although the vault user may not publish there:
 * they go out as the audit user. */
static void test_audit_own_user(void **state)
{
    (void)state;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, admin, "vault.audit"), NATS_OK);
    assert_int_equal(natsConnection_Flush(admin), NATS_OK);
    json_decref(admin_req("{\"operation\":\"get\",\"key\":\"audit/own\"}"));
    assert_int_equal(natsSubscription_NextMsg(&m, sub, 10000), NATS_OK);
    json_t *ev = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "vaultctl.audit.v1");
    json_decref(ev);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    char *log = read_all(vault.log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "audit: events go out as their own NATS user"));
    assert_null(strstr(log, "Permissions Violation"));
    assert_null(strstr(log, "Not Permitted"));
    free(log);
}

/* The same when nats.url carries the vault user's login (user:password@,
 * which nats.c prefers to the options' login): the audit connection still
 * logs in as the audit user, so no event is refused. Before, every event
 * was a publish violation (an error line per request in both logs) and
 * none arrived. */
static void test_audit_own_user_url_login(void **state)
{
    char *text, *at, *out;
    char from[128], to[192];

    assert_int_equal(it_vault_stop(&vault), 0);
    text = read_all(vault.config, NULL);
    assert_non_null(text);
    snprintf(from, sizeof from, "url: %s\n", nats.url);
    snprintf(to, sizeof to, "url: nats://%s:%s@127.0.0.1:%d\n", IT_VAULT_USER, IT_VAULT_PASS,
             nats.port);
    at = strstr(text, from);
    assert_non_null(at);
    out = malloc(strlen(text) + sizeof to);
    assert_non_null(out);
    memcpy(out, text, (size_t)(at - text));
    strcpy(out + (at - text), to);
    strcat(out, at + strlen(from));
    FILE *f = fopen(vault.config, "w");
    assert_non_null(f);
    fputs(out, f);
    fclose(f);
    free(out);
    free(text);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    for (int i = 0; i < 20; i++) /* a violation would come back for each */
        json_decref(admin_req("{\"operation\":\"get\",\"key\":\"audit/own\"}"));
    test_audit_own_user(state);
}

/* serve --check warns about apps.> after apps.*.readonly.requests. */
static void test_check_warns_prefix(void **state)
{
    (void)state;
    char *out = NULL;
    const char *args[] = {"serve", "--check", NULL};
    int rc = it_run(vault.config, &out, args);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    if (strstr(out, "warning: acl[2] apps.> can match a shorter subject than acl[1] "
                    "apps.*.readonly.requests") == NULL)
        fail_msg("no warning in serve --check output:\n%s", out);
    assert_null(strstr(out, "warning: acl[1]"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_subject_bypass), cmocka_unit_test(test_control_bytes_escaped),
        cmocka_unit_test(test_check_warns_prefix), cmocka_unit_test(test_reply_prefixes),
        cmocka_unit_test(test_audit_own_user),     cmocka_unit_test(test_audit_own_user_url_login),
    };
    if (getenv("IT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IT_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
