/* harness.h - integration test harness: a real nats-server on a free
 * loopback port with per-user permissions, and the real vaultctl binary. */
#ifndef VAULTCTL_HARNESS_H
#define VAULTCTL_HARNESS_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <sys/types.h>

#define IT_ADMIN_USER "admin"
#define IT_ADMIN_PASS "admin-test-pw"
#define IT_AGENT_USER "agent"
#define IT_AGENT_PASS "agent-test-pw"
#define IT_VAULT_USER "vault"
#define IT_VAULT_PASS "vault-test-pw"
/* Tests only (not in the example): may publish and subscribe anywhere. */
#define IT_PROBE_USER "probe"
#define IT_PROBE_PASS "probe-test-pw"

typedef struct {
    char dir[256]; /* temp dir (config, logs) */
    char conf[300];
    char log[300];
    int port;
    pid_t pid;
    char url[64];
    /* NULL: the example users (NATS_CONF_FMT); else the configuration after
     * the listen line (it_nats_start_conf; borrowed, kept for restarts). */
    const char *custom_conf;
} it_nats;

typedef struct {
    char dir[256]; /* temp dir: config.yaml, master.key, data/, vault.log */
    char config[300];
    char log[300];
    pid_t pid;
} it_vault;

/* Path of the vaultctl binary under test. */
const char *it_bin(void);

/* A free TCP port on 127.0.0.1. */
int it_free_port(void);

/* Starts nats-server (port 0: a free one) with the example users and
 * permissions; waits until it accepts connections. Returns 0 on success. */
int it_nats_start(it_nats *n, int port);
/* Same with these users instead of the example's: users is the text of
 * the entries of nats-server's `authorization { users = [ ... ] }`. */
int it_nats_start_users(it_nats *n, int port, const char *users);
/* it_nats_start with conf (e.g. an operator-mode include from `vaultctl
 * nats-init`) as the configuration after "listen: 127.0.0.1:PORT"; conf is
 * borrowed and must outlive n. */
int it_nats_start_conf(it_nats *n, int port, const char *conf);
/* SIGTERM (or SIGKILL when hard) and wait; the temp dir is kept for restart. */
void it_nats_stop(it_nats *n, bool hard);
/* Stops if running and removes the temp dir. */
void it_nats_destroy(it_nats *n);

/* Creates a temp dir with a fresh master key and a config pointing at n,
 * with the ACL of the example (admin.requests: all; user.requests: get,
 * set) and extra_yaml appended (may be NULL). Does not start the service. */
int it_vault_init(it_vault *v, const it_nats *n, const char *extra_yaml);
/* Starts `vaultctl serve` and waits until it answers $SRV.PING. */
int it_vault_start(it_vault *v, const it_nats *n);
/* The same, pinging over probe (a connection the test made, e.g. with
 * credentials) instead of one as IT_ADMIN_USER. */
int it_vault_start_with(it_vault *v, natsConnection *probe);
/* Starts `vaultctl serve` without waiting for it (several instances share
 * one queue group, so a ping says nothing about this one): the caller polls
 * for readiness. 0 when the process was started. */
int it_vault_spawn(it_vault *v);
/* Starts `vaultctl serve` and waits (up to timeout_ms) until the end of its
 * log holds needle: for a second instance, which $SRV.PING cannot tell
 * from the first. */
int it_vault_start_log(it_vault *v, const char *needle, int timeout_ms);

/* Whether VAULTCTL_IT_BACKEND=jetstream: it_nats_start gives the server
 * JetStream (and the vault user its permissions), it_vault_init sets
 * storage.backend jetstream, so a test runs against that backend. */
bool it_jetstream(void);

/* SIGTERM and wait for exit; returns the exit status (or -1). */
int it_vault_stop(it_vault *v);
/* SIGKILL and wait. */
void it_vault_kill(it_vault *v);
/* Stops if running, removes the temp dir. */
void it_vault_destroy(it_vault *v);
/* Prints the service log to stderr (on failure). */
void it_vault_dump_log(const it_vault *v);
void it_nats_dump_log(const it_nats *n);

/* Runs the vaultctl binary with args (NULL-terminated) and the given config
 * (prepended as --config), capturing stdout into out (malloc'd, may be NULL);
 * stderr goes to the test's own. Returns the exit code (-1 if it could not
 * run or did not exit). */
int it_run(const char *config, char **out, const char *const *args);

/* it_run with stdin the text in (NULL: the test's own stdin), and stdout and
 * stderr captured into *out and *err (malloc'd, NUL-terminated; either
 * pointer may be NULL: discarded). */
int it_run_io(const char *config, const char *in, char **out, char **err, const char *const *args);

/* Fills argv (room for IT_ARGV_MAX pointers) with the vaultctl binary,
 * "--config config" unless config is NULL, then args (NULL-terminated,
 * cut to fit), and a final NULL. */
#define IT_ARGV_MAX 32
void it_argv(const char **argv, const char *config, const char *const *args);

/* The usual fixture: nats-server on a free port, vaultctl serve with the
 * default config (edit_config, if not NULL, may rewrite the file at its
 * path first; nonzero fails), and *admin connected as IT_ADMIN_USER.
 * 0 on success. it_down undoes it (also after a partial it_up). */
int it_up(it_nats *n, it_vault *v, int (*edit_config)(const char *path), natsConnection **admin);
void it_down(it_nats *n, it_vault *v, natsConnection *admin);

/* Connects as user/pass (NULL: no auth). */
natsConnection *it_connect(const it_nats *n, const char *user, const char *pass);
/* The same to url, which may be a comma-separated list of servers (a
 * cluster: the client reconnects to another one when its server dies). */
natsConnection *it_connect_url(const char *url, const char *user, const char *pass);

/* Connects to url with the .creds file at path, replies under inbox, as
 * vaultctl connects (natsconn.c, which signs the nonce itself: nats.c
 * 3.4.1's own creds handling sends no signature in 1 connect of 256).
 * tune (NULL: none) may set more options first. A failed connect is the
 * caller's to report (nats_GetLastError has the server's reason). */
natsStatus it_connect_creds(natsConnection **nc, const char *url, const char *path,
                            const char *inbox, void (*tune)(natsOptions *o));

/* Sends payload as a request on subject and parses the JSON reply (NULL on
 * timeout). If headers is not NULL it receives the reply message (caller
 * destroys) for header checks. */
json_t *it_request(natsConnection *nc, const char *subject, const char *payload, int64_t timeout_ms,
                   natsMsg **reply_msg);

/* Convenience: status string and code of a reply. */
const char *it_status(const json_t *reply);
const char *it_code(const json_t *reply);

/* Whether quick mode is on (sanitizer runs): fewer rounds. */
bool it_quick(void);

#endif
