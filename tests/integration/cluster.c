/* cluster.c - see cluster.h. */
#include "cluster.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What it_vault_init adds under storage: with VAULTCTL_IT_BACKEND=jetstream
 * (harness.c). */
#define IT_JS_SINGLE_LINES "  backend: jetstream\n  jetstream:\n    replicas: 1\n"
/* The operations of each instance's own ACL entry (see it_cvault). */
#define INSTANCE_OPS      "[get, set, delete, list, rotate, status, versions]"
#define STATUS_TIMEOUT_MS 2000

double it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- servers --------------------------------------------------------------- */

/* The users: admin as in the example, probe without limits, and one vault
 * user per instance (vault0, vault1, ...). The JetStream API, the KV
 * subjects and the backend's internal subjects the vault user needs are the
 * backend's business (its docs); these tests are about failover, so a vault
 * user may do anything but subscribe to another instance's own subject:
 * every instance has the same ACL (a write forwarded to the active is judged
 * by the active's ACL, by the subject it arrived on), entries for every
 * instance's subject included, and NATS lets each subscribe to its own
 * only. */
#define CLUSTER_USERS_HEAD                                                                         \
    "authorization {\n"                                                                            \
    "  users = [\n"                                                                                \
    "    { user: \"" IT_ADMIN_USER "\", password: \"" IT_ADMIN_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"admin.requests\", \"$SRV.>\"] },\n"                 \
    "                     subscribe: { allow: [\"_INBOX.admin.>\"] } } }\n"                        \
    "    { user: \"" IT_PROBE_USER "\", password: \"" IT_PROBE_PASS "\" }\n"
#define CLUSTER_USERS_TAIL "  ]\n}\n"

/* The vault users' entries (see CLUSTER_USERS_HEAD) into buf. */
static int vault_users(char *buf, size_t cap)
{
    size_t o = 0;
    for (int k = 0; k < IT_CLUSTER_MAX_VAULTS; k++) {
        char deny[256] = "";
        size_t d = 0;
        for (int j = 0; j < IT_CLUSTER_MAX_VAULTS; j++)
            if (j != k)
                d += (size_t)snprintf(deny + d, sizeof deny - d, "%s\"inst%d.requests\"",
                                      d > 0 ? ", " : "", j);
        int w = snprintf(buf + o, cap - o,
                         "    { user: \"" IT_VAULT_USER "%d\", password: \"" IT_VAULT_PASS "\",\n"
                         "      permissions: { subscribe: { allow: [\">\"], deny: [%s] } } }\n",
                         k, deny);
        if (w < 0 || (size_t)w >= cap - o)
            return -1;
        o += (size_t)w;
    }
    return 0;
}

/* Node i's configuration after the listen line, routes to every node's
 * current cluster port (a node routes to itself harmlessly). */
static int build_conf(it_cluster *c, int i)
{
    char routes[256] = "";
    size_t o = 0;
    for (int j = 0; j < IT_CLUSTER_NODES; j++) {
        int w = snprintf(routes + o, sizeof routes - o, "%snats-route://127.0.0.1:%d",
                         j > 0 ? ", " : "", c->cluster_port[j]);
        if (w < 0 || (size_t)w >= sizeof routes - o)
            return -1;
        o += (size_t)w;
    }
    char vusers[1024];
    if (vault_users(vusers, sizeof vusers) != 0)
        return -1;
    free(c->conf[i]);
    c->conf[i] = NULL;
    if (asprintf(&c->conf[i],
                 "server_name: n%d\n"
                 "http: 127.0.0.1:%d\n"
                 "jetstream { store_dir: \"%s/js\" }\n"
                 "cluster {\n"
                 "  name: %s\n"
                 "  listen: 127.0.0.1:%d\n"
                 "  routes: [%s]\n"
                 "}\n" CLUSTER_USERS_HEAD "%s" CLUSTER_USERS_TAIL,
                 i, c->http_port[i], c->node[i].dir, c->name, c->cluster_port[i], routes,
                 vusers) < 0) {
        c->conf[i] = NULL;
        return -1;
    }
    return 0;
}

static int start_node(it_cluster *c, int i)
{
    /* Client, route and monitor ports found free can be taken before the
     * server binds them: the harness retries the client port, and a failed
     * route or monitor bind gets new ones here. */
    for (int attempt = 1; attempt <= 3; attempt++) {
        c->cluster_port[i] = it_free_port();
        c->http_port[i] = it_free_port();
        if (build_conf(c, i) != 0)
            return -1;
        if (it_nats_start_conf(&c->node[i], 0, c->conf[i]) == 0)
            return 0;
        fprintf(stderr,
                "cluster: node n%d did not start (try %d of 3, route port %d, monitor %d)\n", i,
                attempt, c->cluster_port[i], c->http_port[i]);
        it_nats_dump_log(&c->node[i]);
    }
    return -1;
}

static void build_urls(it_cluster *c)
{
    size_t o = 0;
    c->urls[0] = '\0';
    for (int i = 0; i < IT_CLUSTER_NODES; i++) {
        int w = snprintf(c->urls + o, sizeof c->urls - o, "%s%s", i > 0 ? "," : "", c->node[i].url);
        if (w > 0 && (size_t)w < sizeof c->urls - o)
            o += (size_t)w;
    }
}

int it_cluster_start(it_cluster *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "vaultctl-it-%ld", (long)getpid());
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        if (tu_tmpdir(c->node[i].dir, sizeof c->node[i].dir, "vaultctl-it-cluster") == NULL)
            return -1;
    /* Every route port first, so the first nodes route to the later ones
     * (a later node whose ports change routes to the first ones itself). */
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        c->cluster_port[i] = it_free_port();
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        if (start_node(c, i) != 0)
            return -1;
    build_urls(c);
    if (it_cluster_wait_meta(c, 60000) < 0)
        return -1;
    return 0;
}

void it_cluster_destroy(it_cluster *c)
{
    for (int i = 0; i < IT_CLUSTER_NODES; i++) {
        it_nats_stop(&c->node[i], true);
        it_nats_destroy(&c->node[i]);
        free(c->conf[i]);
        c->conf[i] = NULL;
    }
}

void it_cluster_kill(it_cluster *c, int i)
{
    it_nats_stop(&c->node[i], true); /* SIGKILL, then waits for the exit */
}

int it_cluster_restart(it_cluster *c, int i)
{
    if (it_nats_start_conf(&c->node[i], c->node[i].port, c->conf[i]) != 0) {
        fprintf(stderr, "cluster: node n%d did not restart on port %d\n", i, c->node[i].port);
        return -1;
    }
    return 0;
}

int it_cluster_node_of(const it_cluster *c, const char *server_name)
{
    (void)c;
    if (server_name == NULL || server_name[0] != 'n' || server_name[1] < '0' ||
        server_name[1] >= '0' + IT_CLUSTER_NODES || server_name[2] != '\0')
        return -1;
    return server_name[1] - '0';
}

/* GET path from the monitor port as JSON, or NULL. */
static json_t *monitor_get(int port, const char *path)
{
    char req[256], buf[65536];
    size_t got = 0;
    struct sockaddr_in a = {0};
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    json_t *j = NULL;

    if (fd < 0)
        return NULL;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && n > 0 &&
        send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        ssize_t r;
        while (got < sizeof buf - 1 && (r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
            got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    if (body != NULL)
        j = json_loads(body + 4, 0, NULL);
    return j;
}

/* The meta leader node i names ("" when none), into out. */
static void meta_leader_of(const it_cluster *c, int i, char *out, size_t cap)
{
    json_t *j = monitor_get(c->http_port[i], "/jsz");
    const char *l =
        json_string_value(json_object_get(json_object_get(j, "meta_cluster"), "leader"));
    snprintf(out, cap, "%s", l != NULL ? l : "");
    json_decref(j);
}

int it_cluster_wait_meta(const it_cluster *c, int timeout_ms)
{
    char seen[IT_CLUSTER_NODES][64];
    double end = it_now_ms() + timeout_ms;
    do {
        int leader = -1;
        bool agree = true;
        for (int i = 0; i < IT_CLUSTER_NODES && agree; i++) {
            if (c->node[i].pid <= 0) {
                seen[i][0] = '\0';
                continue;
            }
            meta_leader_of(c, i, seen[i], sizeof seen[i]);
            int l = it_cluster_node_of(c, seen[i]);
            if (l < 0 || c->node[l].pid <= 0 || (leader >= 0 && l != leader))
                agree = false;
            leader = l;
        }
        if (agree && leader >= 0)
            return leader;
        nap_ms(50);
    } while (it_now_ms() < end);
    fprintf(stderr,
            "cluster: no JetStream meta leader agreed by every running node within %d ms "
            "(they named: ",
            timeout_ms);
    for (int i = 0; i < IT_CLUSTER_NODES; i++)
        fprintf(stderr, "n%d:%s ", i, c->node[i].pid > 0 ? seen[i] : "(down)");
    fprintf(stderr, ")\n");
    return -1;
}

int it_cluster_stream_leader(const it_cluster *c, jsCtx *js, const char *stream, bool all_current,
                             int timeout_ms, uint64_t *last_seq)
{
    double end = it_now_ms() + timeout_ms;
    char why[160] = "no STREAM.INFO answer";
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 1000;
    do {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus st = js_GetStreamInfo(&si, js, stream, &o, &jerr);
        int leader = -1;
        bool current = true;
        if (st == NATS_OK && si->Cluster != NULL) {
            leader = it_cluster_node_of(c, si->Cluster->Leader);
            if (all_current) {
                current = si->Cluster->ReplicasLen == IT_CLUSTER_NODES - 1;
                for (int r = 0; current && r < si->Cluster->ReplicasLen; r++)
                    current =
                        si->Cluster->Replicas[r]->Current && !si->Cluster->Replicas[r]->Offline;
            }
            snprintf(why, sizeof why, "leader '%s', %d replicas%s",
                     si->Cluster->Leader != NULL ? si->Cluster->Leader : "",
                     si->Cluster->ReplicasLen, current ? "" : ", not all current");
            if (last_seq != NULL)
                *last_seq = si->State.LastSeq;
        } else if (st != NATS_OK) {
            snprintf(why, sizeof why, "STREAM.INFO: %s (js error %d)", natsStatus_GetText(st),
                     (int)jerr);
        }
        jsStreamInfo_Destroy(si);
        if (leader >= 0 && current)
            return leader;
        nap_ms(50);
    } while (it_now_ms() < end);
    fprintf(stderr, "cluster: stream %s had no leader%s within %d ms (last: %s)\n", stream,
            all_current ? " with every replica current" : "", timeout_ms, why);
    return -1;
}

natsConnection *it_cluster_connect(const it_cluster *c, const char *user, const char *pass)
{
    return it_connect_url(c->urls, user, pass);
}

/* ---- vaultctl instances ------------------------------------------------------- */

/* text with insert put after the first line equal to line; NULL when the
 * line is missing (or no memory). The result is malloc'd. */
static char *insert_after_line(const char *text, const char *line, const char *insert)
{
    const char *at = strstr(text, line);
    if (at == NULL)
        return NULL;
    at += strlen(line);
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, insert, at) < 0)
        return NULL;
    return out;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    if (f == NULL)
        return NULL;
    FILE *m = open_memstream(&buf, &len);
    int ch;
    if (m != NULL) {
        while ((ch = fgetc(f)) != EOF)
            fputc(ch, m);
        fclose(m);
    }
    fclose(f);
    return buf;
}

/* The harness's config for instance k, turned into a cluster instance's. */
/* text with the first occurrence of from replaced by to (malloc'd; NULL
 * when from is missing). */
static char *replace_once(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out = NULL;
    if (at == NULL || asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) < 0)
        return NULL;
    return out;
}

static int edit_config(const it_cluster *c, it_cvault *cv, int k, const char *storage_yaml)
{
    char url_line[300], new_url[300], storage[1024], acl[1024], user[64];
    char *text = read_text(cv->v.config), *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    size_t o = 0;
    int rc = -1;

    snprintf(url_line, sizeof url_line, "  url: %s\n", c->node[0].url);
    snprintf(new_url, sizeof new_url, "  url: %s\n", c->urls);
    snprintf(user, sizeof user, "  user: " IT_VAULT_USER "%d\n", k);
    snprintf(storage, sizeof storage, "  backend: jetstream\n%s",
             storage_yaml != NULL ? storage_yaml : "");
    acl[0] = '\0';
    for (int j = 0; j < IT_CLUSTER_MAX_VAULTS; j++)
        o +=
            (size_t)snprintf(acl + o, sizeof acl - o,
                             "  - subject: inst%d.requests\n    operations: " INSTANCE_OPS "\n", j);
    /* VAULTCTL_IT_BACKEND=jetstream: the harness's single-server lines go,
     * the cluster's come instead. */
    char *plain = text != NULL ? replace_once(text, IT_JS_SINGLE_LINES, "") : NULL;
    if (plain != NULL) {
        free(text);
        text = plain;
    }
    if (text != NULL && (a = insert_after_line(text, "storage:\n", storage)) != NULL &&
        (b = insert_after_line(a, "acl:\n", acl)) != NULL &&
        (d = replace_once(b, url_line, new_url)) != NULL &&
        (e = replace_once(d, "  user: " IT_VAULT_USER "\n", user)) != NULL)
        rc = tu_write_text(cv->v.config, e);
    free(text);
    free(a);
    free(b);
    free(d);
    free(e);
    return rc;
}

int it_cluster_vaults_init(const it_cluster *c, it_cvault *vs, int n, const char *storage_yaml)
{
    char key0[400], key[400];
    char *master = NULL;

    if (n < 1 || n > IT_CLUSTER_MAX_VAULTS)
        return -1;
    for (int k = 0; k < n; k++) {
        memset(&vs[k], 0, sizeof vs[k]);
        snprintf(vs[k].subject, sizeof vs[k].subject, "inst%d.requests", k);
        if (it_vault_init(&vs[k].v, &c->node[0], NULL) != 0 ||
            edit_config(c, &vs[k], k, storage_yaml) != 0)
            return -1;
        /* One vault: every instance under the first one's master key. */
        snprintf(key, sizeof key, "%s/master.key", vs[k].v.dir);
        if (k == 0) {
            snprintf(key0, sizeof key0, "%s", key);
            master = read_text(key0);
            if (master == NULL)
                return -1;
        } else if (tu_write_text(key, master) != 0) {
            sodium_memzero(master, strlen(master));
            free(master);
            return -1;
        }
    }
    sodium_memzero(master, strlen(master));
    free(master);
    return 0;
}

int it_cluster_vault_role(const it_cvault *cv, natsConnection *nc, char *role, size_t cap,
                          char *backend, size_t bcap)
{
    json_t *r = it_request(nc, cv->subject, "{\"operation\":\"status\"}", STATUS_TIMEOUT_MS, NULL);
    json_t *st = json_object_get(json_object_get(r, "data"), "storage");
    const char *ro = json_string_value(json_object_get(st, "role"));
    const char *be = json_string_value(json_object_get(st, "backend"));
    int rc = strcmp(it_status(r), "success") == 0 ? 0 : -1;
    snprintf(role, cap, "%s", ro != NULL ? ro : "");
    if (backend != NULL)
        snprintf(backend, bcap, "%s", be != NULL ? be : "");
    json_decref(r);
    return rc;
}

int it_cluster_vault_start(it_cvault *cv, natsConnection *nc, int timeout_ms)
{
    char role[32];
    double end = it_now_ms() + timeout_ms;

    cv->stopped = false;
    if (it_vault_spawn(&cv->v) != 0)
        return -1;
    do {
        if (it_cluster_vault_role(cv, nc, role, sizeof role, NULL, 0) == 0)
            return 0;
        if (waitpid(cv->v.pid, NULL, WNOHANG) == cv->v.pid) {
            cv->v.pid = 0;
            fprintf(stderr, "cluster: vaultctl serve (%s) exited before it answered status\n",
                    cv->subject);
            it_vault_dump_log(&cv->v);
            return -1;
        }
        nap_ms(20);
    } while (it_now_ms() < end);
    fprintf(stderr,
            "cluster: vaultctl serve (%s) did not answer status on its subject within %d ms\n",
            cv->subject, timeout_ms);
    it_vault_dump_log(&cv->v);
    return -1;
}

void it_cluster_vault_kill(it_cvault *cv)
{
    if (cv->stopped && cv->v.pid > 0)
        kill(cv->v.pid, SIGCONT);
    cv->stopped = false;
    it_vault_kill(&cv->v);
}

void it_cluster_vault_pause(it_cvault *cv)
{
    if (cv->v.pid > 0 && kill(cv->v.pid, SIGSTOP) == 0)
        cv->stopped = true;
}

void it_cluster_vault_resume(it_cvault *cv)
{
    if (cv->v.pid > 0 && cv->stopped)
        kill(cv->v.pid, SIGCONT);
    cv->stopped = false;
}

void it_cluster_vaults_destroy(it_cvault *vs, int n)
{
    for (int k = 0; k < n; k++) {
        it_cluster_vault_resume(&vs[k]);
        it_vault_destroy(&vs[k].v);
    }
}

int it_cluster_wait_active(const it_cvault *vs, int n, int skip, natsConnection *nc, int timeout_ms)
{
    char role[32], seen[IT_CLUSTER_MAX_VAULTS][32];
    double end = it_now_ms() + timeout_ms;
    do {
        int active = -1, count = 0;
        for (int k = 0; k < n; k++) {
            seen[k][0] = '\0';
            if (k == skip || vs[k].v.pid <= 0 || vs[k].stopped)
                continue;
            if (it_cluster_vault_role(&vs[k], nc, role, sizeof role, NULL, 0) == 0) {
                snprintf(seen[k], sizeof seen[k], "%s", role);
                if (strcmp(role, "active") == 0) {
                    active = k;
                    count++;
                }
            }
        }
        if (count == 1)
            return active;
        nap_ms(50);
    } while (it_now_ms() < end);
    fprintf(stderr, "cluster: not exactly one active vaultctl within %d ms (roles:", timeout_ms);
    for (int k = 0; k < n; k++)
        fprintf(stderr, " inst%d=%s", k, k == skip ? "(left out)" : seen[k]);
    fprintf(stderr, ")\n");
    return -1;
}
