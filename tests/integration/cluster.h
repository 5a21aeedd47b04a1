/* cluster.h - integration test harness for high availability: three
 * nats-server processes as one JetStream cluster on loopback (random client,
 * cluster and monitor ports, a store directory each), and several vaultctl
 * instances against it with the jetstream storage backend and one master
 * key. Built on harness.h: each server is an it_nats, each instance an
 * it_vault. Every wait polls, and a wait that runs out says on stderr what
 * did not happen. */
#ifndef VAULTCTL_CLUSTER_H
#define VAULTCTL_CLUSTER_H

#include "harness.h"

#define IT_CLUSTER_NODES      3
#define IT_CLUSTER_MAX_VAULTS 3

typedef struct {
    it_nats node[IT_CLUSTER_NODES];
    int cluster_port[IT_CLUSTER_NODES]; /* route listener */
    int http_port[IT_CLUSTER_NODES];    /* monitor (/jsz) */
    /* The configuration after the listen line that node i runs with
     * (malloc'd; node[i].custom_conf borrows it, for restarts). */
    char *conf[IT_CLUSTER_NODES];
    char name[32]; /* cluster name, unique per run */
    /* Every node's client URL, comma-separated (a vaultctl nats.url). */
    char urls[256];
} it_cluster;

/* One vaultctl instance of the cluster, connected as vault<k>. Besides the
 * harness's ACL entries every instance has one for each instance's subject
 * (inst<k>.requests: a write forwarded to the active is judged by the
 * active's ACL), and NATS lets instance k subscribe to its own only: so a
 * test can ask this very instance (status, its role) or send its writes
 * through it. */
typedef struct {
    it_vault v;
    char subject[32];
    bool stopped; /* SIGSTOPped */
} it_cvault;

/* Starts the three servers (a bind failure of any port: new ports) and
 * waits for a JetStream meta leader. 0 on success; it_cluster_destroy
 * undoes a partial start too. */
int it_cluster_start(it_cluster *c);
/* Kills every server still running and removes their directories. */
void it_cluster_destroy(it_cluster *c);

/* Until every running node names the same meta leader (its /jsz): the
 * leader's index, or -1 after timeout_ms. */
int it_cluster_wait_meta(const it_cluster *c, int timeout_ms);
/* kill -9 node i and wait for the process to exit (it must be gone before
 * a restart binds the same ports). */
void it_cluster_kill(it_cluster *c, int i);
/* Starts node i again on its ports, with its store. 0 when it is ready. */
int it_cluster_restart(it_cluster *c, int i);
/* Index of the node named server_name (n0, n1, n2), or -1. */
int it_cluster_node_of(const it_cluster *c, const char *server_name);

/* Polls STREAM.INFO of stream over js until it has a leader (and, with
 * all_current, every replica current and online): the leader's index, or -1
 * after timeout_ms. *last_seq (may be NULL) gets the stream's last
 * sequence. */
int it_cluster_stream_leader(const it_cluster *c, jsCtx *js, const char *stream, bool all_current,
                             int timeout_ms, uint64_t *last_seq);

/* Connects to the cluster (any node, reconnecting to another one). */
natsConnection *it_cluster_connect(const it_cluster *c, const char *user, const char *pass);

/* Creates n instances (n <= IT_CLUSTER_MAX_VAULTS) against c: the
 * harness's config with nats.url the cluster, `storage.backend: jetstream`
 * plus storage_yaml (lines indented under `storage:`, may be NULL), the
 * first instance's master key for all, a local store each. Does not start
 * them. 0 on success. */
int it_cluster_vaults_init(const it_cluster *c, it_cvault *vs, int n, const char *storage_yaml);
/* Starts instance k and waits until it answers status on its own subject
 * over nc. 0 on success (else its log is dumped). */
int it_cluster_vault_start(it_cvault *cv, natsConnection *nc, int timeout_ms);
/* kill -9 and wait. */
void it_cluster_vault_kill(it_cvault *cv);
/* SIGSTOP / SIGCONT. */
void it_cluster_vault_pause(it_cvault *cv);
void it_cluster_vault_resume(it_cvault *cv);
/* Stops (SIGCONT first if paused) and removes the instances' directories. */
void it_cluster_vaults_destroy(it_cvault *vs, int n);

/* `status` through instance cv: its data.storage.role ("active", "standby") in
 * role (cap bytes; "" when the reply has none), data.storage.backend in
 * backend (may be NULL). 0 when it answered success. */
int it_cluster_vault_role(const it_cvault *cv, natsConnection *nc, char *role, size_t cap,
                          char *backend, size_t bcap);
/* Until exactly one of the n running, unpaused instances says it is active:
 * its index, or -1 after timeout_ms. skip (or -1) is left out (an old
 * active that is stopped). */
int it_cluster_wait_active(const it_cvault *vs, int n, int skip, natsConnection *nc,
                           int timeout_ms);

/* Milliseconds on the monotonic clock. */
double it_now_ms(void);

#endif
