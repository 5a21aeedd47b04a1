/* config_env.c - the environment overrides: VAULTCTL_<SECTION>_<KEY> for
 * every setting of the table (config.c) and, for the secret ones,
 * VAULTCTL_<SECTION>_<KEY>_FILE naming a file that holds the value (read by
 * secretfile_read, the one reader of secret files). Values go through
 * config_apply like the file's; messages name the variable.
 */
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "secretfile.h"

/* "VAULTCTL_" + the dotted name upper-cased with dots as underscores. */
static void env_name(char *buf, size_t n, const char *name, const char *suffix)
{
    int w = snprintf(buf, n, CONFIG_ENV_PREFIX "%s%s", name, suffix);
    if (w < 0 || (size_t)w >= n) {
        buf[0] = '\0'; /* names are short and fixed: cannot happen */
        return;
    }
    for (char *p = buf; *p != '\0'; p++)
        *p = *p == '.' ? '_' : (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
}

const char *config_env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    if (envp == NULL)
        return NULL;
    for (char *const *e = envp; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Whether the "NAME=value" entry e names variable var. */
static bool env_is(const char *e, size_t name_len, const char *var)
{
    return strlen(var) == name_len && strncmp(e, var, name_len) == 0;
}

/* A VAULTCTL_<SECTION>_... variable that names no setting is a typo: an
 * error, like an unknown key in the file. Variables outside our sections
 * (VAULTCTL_CONFIG, other tools' settings) are left alone. */
static vc_code check_unknown_env(config_loader *ld, char *const *envp)
{
    char known[CONFIG_NAME_MAX], sect[CONFIG_NAME_MAX];
    for (char *const *e = envp; *e != NULL; e++) {
        size_t n = strcspn(*e, "=");
        bool ours = false, found = false;
        if (strncmp(*e, CONFIG_ENV_PREFIX, strlen(CONFIG_ENV_PREFIX)) != 0 ||
            env_is(*e, n, "VAULTCTL_LOG_LEVEL")) /* read by main.c, not a setting */
            continue;
        for (size_t s = 0; s < CONFIG_N_SECTIONS && !ours; s++) {
            env_name(sect, sizeof sect, config_sections[s], "_");
            ours = strncmp(*e, sect, strlen(sect)) == 0;
        }
        for (size_t i = 0; i < CONFIG_N_SETTINGS && ours && !found; i++) {
            env_name(known, sizeof known, config_settings[i].name, "");
            found = env_is(*e, n, known);
            if (!found && config_settings[i].kind == K_SECRET) {
                env_name(known, sizeof known, config_settings[i].name, "_FILE");
                found = env_is(*e, n, known);
            }
        }
        if (ours && !found) {
            char q[CONFIG_QUOTE_BUF];
            return vc_errf(ld->err, VC_CONFIG,
                           "environment %s: unknown setting (only nats.pass, "
                           "nats.token, audit.nats.pass and audit.nats.token "
                           "take a _FILE variable; the acl is set in the file)",
                           config_quote(q, sizeof q, *e, n));
        }
    }
    return VC_OK;
}

/* The secret in the file that variable var names (secretfile.h's rule);
 * the caller frees it with secretfile_free. */
static vc_code read_env_file(config_loader *ld, const char *var, const char *path, char **out,
                             size_t *len)
{
    vc_err e;
    vc_code rc = secretfile_read(path, SECRETFILE_MAX, out, len, NULL, &e);
    if (rc != VC_OK)
        return vc_errf(ld->err, rc, "environment %s: %s", var, e.msg);
    return VC_OK;
}

vc_code config_apply_env(config_loader *ld, char *const *envp)
{
    char var[CONFIG_NAME_MAX], var_file[CONFIG_NAME_MAX], where[CONFIG_NAME_MAX + 16];
    vc_code rc;

    if (envp == NULL)
        return VC_OK;
    if ((rc = check_unknown_env(ld, envp)) != VC_OK)
        return rc;
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
        const config_setting *s = &config_settings[i];
        const char *v, *path = NULL, *used = var;
        char *secret = NULL;
        size_t len = 0;

        env_name(var, sizeof var, s->name, "");
        v = config_env_get(envp, var);
        if (s->kind == K_SECRET) {
            env_name(var_file, sizeof var_file, s->name, "_FILE");
            path = config_env_get(envp, var_file);
        }
        if (v != NULL && path != NULL)
            return vc_errf(ld->err, VC_CONFIG, "environment %s and %s: set only one of them", var,
                           var_file);
        if (v == NULL && path == NULL)
            continue;
        if (path != NULL) {
            used = var_file;
            if ((rc = read_env_file(ld, var_file, path, &secret, &len)) != VC_OK)
                return rc;
            v = secret;
        } else {
            len = strlen(v);
        }
        int w = snprintf(where, sizeof where, "environment %s", used);
        (void)w; /* fits: the names are short and fixed */
        rc = config_apply(ld, i, v, len, where);
        secretfile_free(secret); /* wipes; NULL is fine */
        if (rc != VC_OK)
            return rc;
        config_set_origin(ld, i, 0, used);
    }
    return VC_OK;
}
