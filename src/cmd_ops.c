/* cmd_ops.c - operations commands: backup, restore, rekey, health.
 * (Being written: placeholders that refuse, so nothing pretends to work.) */
#include "cmd.h"

static int not_yet(const char *what)
{
    cmd_fail("%s: not available in this build yet", what);
    return EXIT_ERROR;
}

int cmd_backup(const char *config_path, int argc, char **argv)
{
    (void)config_path; (void)argc; (void)argv;
    return not_yet("backup");
}

int cmd_restore(const char *config_path, int argc, char **argv)
{
    (void)config_path; (void)argc; (void)argv;
    return not_yet("restore");
}

int cmd_rekey(const char *config_path, int argc, char **argv)
{
    (void)config_path; (void)argc; (void)argv;
    return not_yet("rekey");
}

int cmd_health(const char *config_path, int argc, char **argv)
{
    (void)config_path; (void)argc; (void)argv;
    return not_yet("health");
}
