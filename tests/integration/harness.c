/* harness.c - see harness.h. */
#include "harness.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NATS_SERVER_BIN
#define NATS_SERVER_BIN "/usr/sbin/nats-server"
#endif

const char *it_bin(void)
{
    const char *env = getenv("VAULTCTL_BIN");
    return env != NULL ? env : VAULTCTL_BIN;
}

bool it_quick(void)
{
    const char *q = getenv("VAULTCTL_TEST_QUICK");
    return q != NULL && strcmp(q, "1") == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int it_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int port = -1;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    bool ok;

    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* fork + exec argv with stdout and stderr appended to log. */
static pid_t spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* The example permissions (examples/nats-server.conf) on another port. */
#define NATS_CONF_FMT                                                                              \
    "listen: 127.0.0.1:%d\n"                                                                       \
    "authorization {\n"                                                                            \
    "  users = [\n"                                                                                \
    "    { user: \"" IT_ADMIN_USER "\", password: \"" IT_ADMIN_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"admin.requests\", \"$SRV.>\"] },\n"                 \
    "                     subscribe: { allow: [\"_INBOX.admin.>\", \"vault.replies\", "            \
    "\"vault.audit\"] } } }\n"                                                                     \
    "    { user: \"" IT_AGENT_USER "\", password: \"" IT_AGENT_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"user.requests\"] },\n"                              \
    "                     subscribe: { allow: [\"_INBOX.agent.>\"] } } }\n"                        \
    "    { user: \"" IT_VAULT_USER "\", password: \"" IT_VAULT_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\"vault.replies\", \"vault.audit\"] },\n"             \
    "                     subscribe: { allow: [\"vault.requests\", \"admin.requests\",\n"          \
    "                                          \"user.requests\", \"$SRV.>\"] },\n"                \
    "                     allow_responses: { max: 1, expires: \"1m\" } } }\n"                      \
    "    { user: \"" IT_PROBE_USER "\", password: \"" IT_PROBE_PASS "\",\n"                        \
    "      permissions: { publish: { allow: [\">\"] }, subscribe: { allow: [\">\"] } } }\n"        \
    "  ]\n"                                                                                        \
    "}\n"

/* VAULTCTL_IT_BACKEND=jetstream (it_jetstream): the server gets JetStream
 * and the vault user the permissions a jetstream backend needs
 * (examples/nats-server.conf); the vault's config storage.backend
 * jetstream with one replica. */
#define JS_VAULT_PUB ", \"$JS.API.>\", \"$JS.FC.>\", \"$KV.>\", \"_VAULTCTL.*.write.*\""
#define JS_VAULT_SUB ", \"_VAULTCTL.>\""

bool it_jetstream(void)
{
    const char *b = getenv("VAULTCTL_IT_BACKEND");
    return b != NULL && strcmp(b, "jetstream") == 0;
}

/* Inserts ins into text (cap bytes) just before the first after, searched
 * from from on; false if there is none or no room. */
static bool insert_before(char *text, size_t cap, const char *from, const char *after,
                          const char *ins)
{
    char *at = strstr(from, after);
    size_t tl = strlen(text), il = strlen(ins);
    if (at == NULL || tl + il + 1 > cap)
        return false;
    memmove(at + il, at, tl - (size_t)(at - text) + 1);
    memcpy(at, ins, il);
    return true;
}

/* The jetstream additions to a server configuration with the vault user's
 * block in it (its publish list ends with "vault.audit", its subscribe
 * list with "$SRV.>"). */
static int add_jetstream(const it_nats *n, char *text, size_t cap)
{
    char *user = strstr(text, "user: \"" IT_VAULT_USER "\"");
    char js[400];
    if (user == NULL || strstr(user, "\"vault.audit\"") == NULL ||
        strstr(user, "\"$SRV.>\"") == NULL ||
        !insert_before(text, cap, strstr(user, "\"vault.audit\"") + 13, "]", JS_VAULT_PUB))
        return -1;
    user = strstr(text, "user: \"" IT_VAULT_USER "\"");
    if (!insert_before(text, cap, strstr(user, "\"$SRV.>\"") + 8, "]", JS_VAULT_SUB))
        return -1;
    snprintf(js, sizeof js, "jetstream { store_dir: \"%s/js\" }\n", n->dir);
    if (strlen(text) + strlen(js) + 1 > cap)
        return -1;
    strcat(text, js);
    return 0;
}

/* Whether the server's log, from offset from on (the log is appended to
 * across restarts), says it is listening. */
static bool nats_ready(const it_nats *n, long from)
{
    char buf[8192];
    FILE *f = fopen(n->log, "r");
    bool ready = false;
    if (f == NULL)
        return false;
    if (fseek(f, from, SEEK_SET) != 0) {
        fclose(f);
        return false;
    }
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    ready = strstr(buf, "Server is ready") != NULL;
    return ready;
}

/* One try: the server on port with the users' block (NULL: the example's,
 * NATS_CONF_FMT), until it is ready or gone. 0 when ready. */
static int nats_try_start(it_nats *n, int port, const char *users)
{
    char text[8192];

    n->port = port;
    snprintf(n->url, sizeof n->url, "nats://127.0.0.1:%d", port);
    if (n->custom_conf != NULL) {
        size_t cap = strlen(n->custom_conf) + 64;
        char *custom = malloc(cap);
        if (custom == NULL)
            return -1;
        snprintf(custom, cap, "listen: 127.0.0.1:%d\n%s", port, n->custom_conf);
        int wrc = tu_write_text(n->conf, custom);
        free(custom);
        if (wrc != 0)
            return -1;
    } else {
        if (users != NULL)
            snprintf(text, sizeof text,
                     "listen: 127.0.0.1:%d\nauthorization {\n  users = [\n%s\n  ]\n}\n", port,
                     users);
        else
            snprintf(text, sizeof text, NATS_CONF_FMT, port);
        if (it_jetstream() && add_jetstream(n, text, sizeof text) != 0)
            return -1;
        if (tu_write_text(n->conf, text) != 0)
            return -1;
    }
    const char *argv[] = {NATS_SERVER_BIN, "-c", n->conf, NULL};
    struct stat st;
    long from = stat(n->log, &st) == 0 ? (long)st.st_size : 0;
    n->pid = spawn(argv, n->log);
    for (int i = 0; i < 2000; i++) {
        /* Ready by its own log, and the port open: an open port alone could
         * be another process's. */
        if (nats_ready(n, from) && port_open(port))
            return 0;
        if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
            n->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    kill(n->pid, SIGKILL);
    wait_exit(n->pid, 10000);
    n->pid = 0;
    return -1;
}

static int nats_start_text(it_nats *n, int port, const char *users)
{
    if (n->dir[0] == '\0') {
        if (tu_tmpdir(n->dir, sizeof n->dir, "vaultctl-it-nats") == NULL)
            return -1;
    }
    snprintf(n->conf, sizeof n->conf, "%s/nats.conf", n->dir);
    snprintf(n->log, sizeof n->log, "%s/nats.log", n->dir);
    /* A port found free can be taken before the server binds it (a busy
     * machine): then a new port. A restart on the same port (port != 0)
     * tries that port again, the old socket may linger a moment. */
    for (int attempt = 1; attempt <= 5; attempt++) {
        if (nats_try_start(n, port != 0 ? port : it_free_port(), users) == 0)
            return 0;
        fprintf(stderr, "harness: nats-server did not start on port %d (try %d of 5), see %s\n",
                n->port, attempt, n->log);
        if (port != 0)
            sleep_ms(500);
    }
    return -1;
}

int it_nats_start(it_nats *n, int port)
{
    return nats_start_text(n, port, NULL);
}

int it_nats_start_users(it_nats *n, int port, const char *users)
{
    return nats_start_text(n, port, users);
}

int it_nats_start_conf(it_nats *n, int port, const char *conf)
{
    n->custom_conf = conf;
    return nats_start_text(n, port, NULL);
}

void it_nats_stop(it_nats *n, bool hard)
{
    if (n->pid > 0) {
        kill(n->pid, hard ? SIGKILL : SIGTERM);
        wait_exit(n->pid, 10000);
        n->pid = 0;
    }
}

void it_nats_destroy(it_nats *n)
{
    it_nats_stop(n, false);
    if (n->dir[0] != '\0')
        tu_rmtree(n->dir);
    n->dir[0] = '\0';
}

int it_vault_init(it_vault *v, const it_nats *n, const char *extra_yaml)
{
    char path[400], text[8192];
    char *key = NULL;

    memset(v, 0, sizeof *v);
    if (tu_tmpdir(v->dir, sizeof v->dir, "vaultctl-it-vault") == NULL)
        return -1;
    snprintf(v->config, sizeof v->config, "%s/config.yaml", v->dir);
    snprintf(v->log, sizeof v->log, "%s/vault.log", v->dir);

    const char *args[] = {"keygen", NULL};
    if (it_run(NULL, &key, args) != 0 || key == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/master.key", v->dir);
    int rc = tu_write_text(path, key);
    free(key);
    if (rc != 0)
        return -1;
    snprintf(text, sizeof text,
             "nats:\n"
             "  url: %s\n"
             "  user: " IT_VAULT_USER "\n"
             "  pass: " IT_VAULT_PASS "\n"
             "encryption:\n"
             "  master_key: %s/master.key\n"
             "storage:\n"
             "  path: %s/data\n"
             "%s"
             "subjects:\n"
             "  request: vault.requests\n"
             "  reply: vault.replies\n"
             "acl:\n"
             "  - subject: admin.requests\n"
             "    operations: [get, set, delete, list, rotate, status, versions]\n"
             "  - subject: user.requests\n"
             "    operations: [get, set]\n"
             "%s",
             n != NULL ? n->url : "nats://127.0.0.1:4222", v->dir, v->dir,
             it_jetstream() ? "  backend: jetstream\n  jetstream:\n    replicas: 1\n" : "",
             extra_yaml != NULL ? extra_yaml : "");
    return tu_write_text(v->config, text);
}

int it_vault_start(it_vault *v, const it_nats *n)
{
    natsConnection *nc = it_connect(n, IT_ADMIN_USER, IT_ADMIN_PASS);
    int rc = nc != NULL ? it_vault_start_with(v, nc) : -1;
    natsConnection_Destroy(nc);
    return rc;
}

int it_vault_spawn(it_vault *v)
{
    const char *argv[] = {it_bin(), "serve", "--config", v->config, NULL};
    v->pid = spawn(argv, v->log);
    return v->pid > 0 ? 0 : -1;
}

int it_vault_start_with(it_vault *v, natsConnection *nc)
{
    int rc = -1;

    it_vault_spawn(v);
    for (int i = 0; i < 500 && nc != NULL; i++) {
        natsMsg *m = NULL;
        if (natsConnection_RequestString(&m, nc, "$SRV.PING.vaultctl", "", 200) == NATS_OK) {
            natsMsg_Destroy(m);
            rc = 0;
            break;
        }
        if (waitpid(v->pid, NULL, WNOHANG) == v->pid) {
            v->pid = 0;
            break;
        }
        sleep_ms(10);
    }
    if (rc != 0)
        it_vault_dump_log(v);
    return rc;
}

int it_vault_stop(it_vault *v)
{
    int rc = -1;
    if (v->pid > 0) {
        kill(v->pid, SIGTERM);
        rc = wait_exit(v->pid, 30000);
        v->pid = 0;
    }
    return rc;
}

void it_vault_kill(it_vault *v)
{
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);
        wait_exit(v->pid, 10000);
        v->pid = 0;
    }
}

void it_vault_destroy(it_vault *v)
{
    it_vault_stop(v);
    if (v->dir[0] != '\0')
        tu_rmtree(v->dir);
    v->dir[0] = '\0';
}

static void dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    if (f == NULL)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof line, f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

void it_vault_dump_log(const it_vault *v)
{
    dump_file(v->log);
}

void it_nats_dump_log(const it_nats *n)
{
    dump_file(n->log);
}

int it_up(it_nats *n, it_vault *v, int (*edit_config)(const char *path), natsConnection **admin)
{
    *admin = NULL;
    if (it_nats_start(n, 0) != 0)
        return -1;
    if (it_vault_init(v, n, NULL) != 0 || (edit_config != NULL && edit_config(v->config) != 0))
        return -1;
    if (it_vault_start(v, n) != 0)
        return -1;
    *admin = it_connect(n, IT_ADMIN_USER, IT_ADMIN_PASS);
    return *admin != NULL ? 0 : -1;
}

void it_down(it_nats *n, it_vault *v, natsConnection *admin)
{
    natsConnection_Destroy(admin);
    it_vault_destroy(v);
    it_nats_destroy(n);
}

void it_argv(const char **argv, const char *config, const char *const *args)
{
    int n = 0;

    argv[n++] = it_bin();
    if (config != NULL) {
        argv[n++] = "--config";
        argv[n++] = config;
    }
    for (int i = 0; args[i] != NULL && n < IT_ARGV_MAX - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
}

/* An anonymous file (removed when closed) holding text, read from the
 * start; empty for NULL. */
static FILE *scratch(const char *text)
{
    FILE *f = tmpfile();
    if (f != NULL && text != NULL &&
        (fputs(text, f) == EOF || fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)) {
        fclose(f);
        f = NULL;
    }
    return f;
}

/* All of f from its start, malloc'd and NUL-terminated, and f closed. */
static char *slurp(FILE *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int c;
    if (m == NULL) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* it_run_io; with keep_stderr (and err NULL) the child's stderr is the
 * test's own, so that its complaints show in the test log. */
static int run_child(const char *config, const char *in, char **out, char **err, bool keep_stderr,
                     const char *const *args)
{
    const char *argv[IT_ARGV_MAX];
    int status = 0;
    FILE *fin = in != NULL ? scratch(in) : NULL, *fout = scratch(NULL);
    FILE *ferr = keep_stderr && err == NULL ? NULL : scratch(NULL);

    if (out != NULL)
        *out = NULL;
    if (err != NULL)
        *err = NULL;
    if ((in != NULL && fin == NULL) || fout == NULL || (ferr == NULL && !keep_stderr)) {
        if (fin != NULL)
            fclose(fin);
        if (fout != NULL)
            fclose(fout);
        if (ferr != NULL)
            fclose(ferr);
        return -1;
    }
    it_argv(argv, config, args);
    fflush(NULL); /* nothing buffered is written twice by the child */
    pid_t pid = fork();
    if (pid == 0) {
        if (fin != NULL)
            dup2(fileno(fin), 0);
        dup2(fileno(fout), 1);
        if (ferr != NULL)
            dup2(fileno(ferr), 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (fin != NULL)
        fclose(fin);
    char *o = slurp(fout), *e = ferr != NULL ? slurp(ferr) : NULL;
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (err != NULL)
        *err = e;
    else
        free(e);
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int it_run_io(const char *config, const char *in, char **out, char **err, const char *const *args)
{
    return run_child(config, in, out, err, false, args);
}

int it_run(const char *config, char **out, const char *const *args)
{
    return run_child(config, NULL, out, NULL, true, args);
}

natsConnection *it_connect(const it_nats *n, const char *user, const char *pass)
{
    return it_connect_url(n->url, user, pass);
}

/* Splits url at its commas into o's server list. */
static natsStatus set_servers(natsOptions *o, const char *url)
{
    char copy[1024], *save = NULL;
    const char *servers[16];
    int n = 0;
    if (snprintf(copy, sizeof copy, "%s", url) >= (int)sizeof copy)
        return NATS_INVALID_ARG;
    for (char *s = strtok_r(copy, ",", &save); s != NULL && n < 16; s = strtok_r(NULL, ",", &save))
        servers[n++] = s;
    return natsOptions_SetServers(o, servers, n);
}

natsConnection *it_connect_url(const char *url, const char *user, const char *pass)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK)
        return NULL;
    if (set_servers(o, url) != NATS_OK) {
        natsOptions_Destroy(o);
        return NULL;
    }
    if (user != NULL) {
        /* Each user may subscribe to its own inboxes only (the example's
         * permissions), so its requests use _INBOX.<user>.* replies. */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "_INBOX.%s", user);
        natsOptions_SetUserInfo(o, user, pass);
        natsOptions_SetCustomInboxPrefix(o, prefix);
    }
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    natsOptions_SetSendAsap(o, true);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        nc = NULL;
    natsOptions_Destroy(o);
    return nc;
}

json_t *it_request(natsConnection *nc, const char *subject, const char *payload, int64_t timeout_ms,
                   natsMsg **reply_msg)
{
    natsMsg *m = NULL;
    json_t *j = NULL;
    if (natsConnection_Request(&m, nc, subject, payload, (int)strlen(payload), timeout_ms) !=
        NATS_OK)
        return NULL;
    j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    if (reply_msg != NULL)
        *reply_msg = m;
    else
        natsMsg_Destroy(m);
    return j;
}

const char *it_status(const json_t *reply)
{
    const char *s = json_string_value(json_object_get(reply, "status"));
    return s != NULL ? s : "(none)";
}

const char *it_code(const json_t *reply)
{
    const char *s = json_string_value(json_object_get(reply, "code"));
    return s != NULL ? s : "(none)";
}

int it_vault_start_log(it_vault *v, const char *needle, int timeout_ms)
{
    const char *argv[] = {it_bin(), "serve", "--config", v->config, NULL};
    char buf[65536];
    struct stat st;
    /* a restart appends to the same log: only what this start writes */
    long from = stat(v->log, &st) == 0 ? (long)st.st_size : 0;

    v->pid = spawn(argv, v->log);
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        FILE *f = fopen(v->log, "r");
        size_t got = 0;
        if (f != NULL) {
            if (fseek(f, from, SEEK_SET) == 0)
                got = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
        }
        buf[got] = '\0';
        if (strstr(buf, needle) != NULL)
            return 0;
        if (waitpid(v->pid, NULL, WNOHANG) == v->pid) {
            v->pid = 0;
            break;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "harness: vaultctl serve did not log \"%s\" within %d ms\n", needle,
            timeout_ms);
    it_vault_dump_log(v);
    return -1;
}
