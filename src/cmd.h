/* cmd.h - the command front ends of the vaultctl binary. They parse
 * arguments, call the library modules, print, and map results to exit codes:
 * 0 success, 1 an error response or failure, 2 bad usage. */
#ifndef VAULTCTL_CMD_H
#define VAULTCTL_CMD_H

#include <jansson.h>

#include "config.h"
#include "ops.h"
#include "seal.h"
#include "vault.h"

#define EXIT_OK    0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

/* What every command that opens the vault needs, released by cmd_close. */
typedef struct {
    config *cfg;
    seal_master *master;
    vault *vault;
} cmd_env;

/* What cmd_open opens. */
typedef enum {
    CMD_OPEN_VAULT, /* the configuration, the master key and the vault */
    CMD_OPEN_KEY,   /* the configuration and the master key only (env->vault
                       stays NULL): for restore, which replaces the vault */
} cmd_open_what;

/* Loads the configuration (config_path NULL: $VAULTCTL_CONFIG or default),
 * the master key, and opens the vault unless what is CMD_OPEN_KEY; prints
 * what is wrong to stderr. On failure env holds nothing. */
int cmd_open(cmd_env *env, const char *config_path, cmd_open_what what);
void cmd_close(cmd_env *env);

/* The ops context for an opened env: its vault, ACL, limits and rotation
 * interval; started now. */
ops_ctx cmd_ops_ctx(const cmd_env *env);

/* Runs the request req (consumed) on the vault of config_path with the
 * local operator's rights, through the same ops_handle as a NATS request
 * (no request size or element limit: the operator is not a NATS
 * requester); prints the reply to stdout. Returns the exit status. */
int cmd_run_request(const char *config_path, json_t *req);

/* Prints "vaultctl: " + message to stderr. */
void cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warns on stderr that what (e.g. "set: VALUE") was given in argv, where
 * other local users can read it, and suggests instead. */
void cmd_warn_argv_secret(const char *what, const char *instead);

/* Reads all of stdin into a malloc'd NUL-terminated buffer and its length;
 * strips one trailing newline ("\n" or "\r\n"), so `echo secret | vaultctl
 * set k -` stores "secret". Outgrown buffers are wiped; the caller wipes
 * and frees the result. NULL on a read error or out of memory. */
char *cmd_read_stdin(size_t *len);

int cmd_local(const char *config_path, int argc,
              char **argv); /* get set delete list rotate status */
int cmd_keygen(int argc, char **argv);
int cmd_audit_hash(const char *config_path, int argc, char **argv);
int cmd_serve(const char *config_path, int argc, char **argv);
int cmd_request(int argc, char **argv);
int cmd_nats_init(int argc, char **argv); /* nats-init DIR (cmd_natsinit.c) */
/* Tokens from the local command line (cmd_token.c). */
int cmd_token(const char *config_path, int argc, char **argv); /* token issue|lookup|renew|revoke */
/* Operations commands (cmd_ops.c). */
int cmd_backup(const char *config_path, int argc, char **argv);  /* backup FILE */
int cmd_restore(const char *config_path, int argc, char **argv); /* restore [--force] FILE */
int cmd_rekey(const char *config_path, int argc, char **argv);   /* rekey --new-key FILE */
int cmd_health(const char *config_path, int argc, char **argv);  /* health: for HEALTHCHECK */
/* Damaged records (cmd_verify.c). */
int cmd_verify(const char *config_path, int argc, char **argv);      /* verify */
int cmd_delete_hash(const char *config_path, int argc, char **argv); /* delete --hash HEX */

#endif
