/* main.c - vaultctl: parse the command, harden the process, dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cmd.h"
#include "jalloc.h"
#include "log.h"

static int main_usage(void)
{
    fputs("usage: vaultctl [--config FILE] COMMAND [ARGS]\n"
          "commands:\n"
          "  serve [--check]                 run the NATS service (or check the setup)\n"
          "  keygen                          print a new master key\n"
          "  get [--version N] KEY | set [--json] [--ttl D] [--cas N] KEY VALUE|-\n"
          "  versions KEY | delete KEY | delete --hash HEX\n"
          "  list [--limit N] [--after NAME] [PREFIX] | rotate | status\n"
          "                                  the local interface, straight on the store\n"
          "  nats-init [--subject S]... DIR  write a NATS operator setup and vaultctl's keys\n"
          "  token issue --policy-keys P --ops OPS [--ttl D] [--uses N] ...\n"
          "  token lookup|renew|revoke ACCESSOR\n"
          "                                  scoped tokens, straight on the store\n"
          "  audit-hash NAME                 the keyed hash logs and audit events show for NAME\n"
          "                                  (or for a token accessor: token_hmac)\n"
          "  verify                          authenticate every record, list the damaged ones\n"
          "  request [OPTIONS] SUBJECT OPERATION [KEY [VALUE]]\n"
          "                                  one request over NATS (see vaultctl request --help)\n"
          "  backup FILE                     consistent hot copy of the store (still encrypted)\n"
          "  restore [--force] FILE          put a backup in place (service stopped)\n"
          "  rekey --new-key FILE            re-wrap the data keys under a new master key\n"
          "  health [--max-age S]            exit 0 if the running service is healthy\n"
          "  version\n",
          stderr);
    return EXIT_USAGE;
}

/* No core dumps (they would hold key material) and no ptrace attach by
 * other processes of the same user. */
static void harden(void)
{
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static void set_log_level(void)
{
    const char *lvl = getenv("VAULTCTL_LOG_LEVEL");
    if (lvl == NULL)
        return;
    if (strcmp(lvl, "debug") == 0)
        log_set_level(LOG_DEBUG);
    else if (strcmp(lvl, "warn") == 0)
        log_set_level(LOG_WARN);
    else if (strcmp(lvl, "error") == 0)
        log_set_level(LOG_ERROR);
    else
        log_set_level(LOG_INFO);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int i = 1;

    jalloc_install(); /* before anything uses jansson (see jalloc.h) */
    harden();
    set_log_level();
    /* --config may stand before the command or right after it. */
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts("vaultctl " VAULTCTL_VERSION);
            return EXIT_OK;
        } else {
            return main_usage();
        }
    }
    if (i >= argc)
        return main_usage();

    char **args = argv + i;
    int nargs = argc - i;
    /* Pull a --config that follows the command out of the arguments. */
    for (int j = 1; j + 1 < nargs; j++) {
        if (strcmp(args[j], "--config") == 0) {
            config_path = args[j + 1];
            memmove(&args[j], &args[j + 2], sizeof *args * (size_t)(nargs - j - 2));
            nargs -= 2;
            break;
        }
    }
    const char *cmd = args[0];

    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(config_path, nargs, args);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(nargs, args);
    if (strcmp(cmd, "request") == 0)
        return cmd_request(nargs, args);
    if (strcmp(cmd, "nats-init") == 0)
        return cmd_nats_init(nargs, args);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(config_path, nargs, args);
    if (strcmp(cmd, "audit-hash") == 0)
        return cmd_audit_hash(config_path, nargs, args);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(config_path, nargs, args);
    if (strcmp(cmd, "delete") == 0 && nargs > 1 && strcmp(args[1], "--hash") == 0)
        return cmd_delete_hash(config_path, nargs, args);
    if (strcmp(cmd, "get") == 0 || strcmp(cmd, "set") == 0 || strcmp(cmd, "delete") == 0 ||
        strcmp(cmd, "list") == 0 || strcmp(cmd, "rotate") == 0 || strcmp(cmd, "status") == 0 ||
        strcmp(cmd, "versions") == 0)
        return cmd_local(config_path, nargs, args);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(config_path, nargs, args);
    if (strcmp(cmd, "restore") == 0)
        return cmd_restore(config_path, nargs, args);
    if (strcmp(cmd, "rekey") == 0)
        return cmd_rekey(config_path, nargs, args);
    if (strcmp(cmd, "health") == 0)
        return cmd_health(config_path, nargs, args);
    if (strcmp(cmd, "version") == 0) {
        puts("vaultctl " VAULTCTL_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        main_usage();
        return EXIT_OK;
    }
    fprintf(stderr, "vaultctl: unknown command \"%s\"\n", cmd);
    return main_usage();
}
