/* cmd_natsinit.c - `vaultctl nats-init [--subject S]... DIR`: a NATS operator
 * setup for people without nsc (issue 14, PROTOCOL.md §10).
 *
 * Writes into DIR (created 0700 if missing), every file 0600, created with
 * O_CREAT|O_EXCL|O_NOFOLLOW; when any of them already exists nothing is
 * written:
 *
 *   nats-operator.conf   for nats-server (-c it, or include it): operator JWT,
 *                        system_account, the full (NATS-based) resolver
 *                        keeping account JWTs in DIR/jwt, resolver_preload
 *                        with the system and the application account
 *   jwt/                 an empty directory (0700) for that resolver: the
 *                        account JWTs pushed to the server (revocations)
 *                        are kept there, so a restarted nats-server still
 *                        refuses revoked users with no vaultctl running
 *   operator.jwt         the operator's JWT
 *   operator.nk          the operator's seed (SO...): re-signs account JWTs
 *                        (revocations); keep it offline if you do not need it
 *   account-signing.nk   the application account's signing seed (SA...) for
 *                        vaultctl's nats_credentials.signing_key
 *   vault.creds          vaultctl's own user: subscribes to the request
 *                        subjects and $SRV.>, publishes vault.replies and
 *                        vault.audit, and replies through allow_responses
 *                        (max 1, 1m): never _INBOX.> in its publish allow
 *   admin.creds          a user for humans: publishes admin.requests and
 *                        $SRV.>, receives on _INBOX.admin.>, vault.replies,
 *                        vault.audit
 *   system.creds         a system-account user that may update account
 *                        claims (for revocation)
 *   account.jwt          the application account's JWT as issued: vaultctl
 *                        re-signs it with revocations (revoker.h)
 *   vaultctl.yaml        the nats: and nats_credentials: sections to put in
 *                        vaultctl's configuration
 *
 * The application account's own identity seed is not kept: users are signed
 * with the signing key, and the account JWT is signed by the operator.
 *
 * Why nats-init makes jwt/ itself rather than let nats-server create it:
 * nats-server 2.9 would make it 0750 (its files 0640), and whoever may
 * write there can put back an account JWT without its revocations; 0700
 * keeps it to the user that runs nats-server, like DIR itself. The conf
 * names it by absolute path: nats-server resolves a relative `dir` against
 * its working directory, not the conf file's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "jwt.h"
#include "nkey.h"

#define NI_MAX_SUBJECTS 32
#define NI_PUB          (NKEY_PUBLIC_LEN + 1)

static const char *const ni_files[] = {
    "nats-operator.conf", "operator.jwt", "operator.nk",   "account-signing.nk", "vault.creds",
    "admin.creds",        "system.creds", "vaultctl.yaml", "account.jwt",
};
#define NI_NFILES (sizeof ni_files / sizeof ni_files[0])
/* The full resolver's directory, beside the files. */
#define NI_JWT_DIR "jwt"

static int ni_usage(void)
{
    fputs("usage: vaultctl nats-init [--subject SUBJECT]... DIR\n"
          "  writes a NATS operator, a system account, an application account with a\n"
          "  signing key, the nats-server configuration for them, vaultctl's own\n"
          "  credentials, an admin's, and the signing seed vaultctl mints user\n"
          "  credentials with. --subject (repeatable) names the request subjects\n"
          "  vaultctl listens on (default: vault.requests admin.requests user.requests\n"
          "  agents.requests). Refuses to overwrite anything.\n",
          stderr);
    return EXIT_USAGE;
}

/* Writes text as the new file name in dir (0600, never over anything). */
static int write_new(int dirfd, const char *dir, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        cmd_fail("nats-init: %s/%s: %s", dir, name, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cmd_fail("nats-init: %s/%s: write: %s", dir, name, strerror(errno));
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        cmd_fail("nats-init: %s/%s: %s", dir, name, strerror(errno));
        return -1;
    }
    return 0;
}

/* A user of the account signed by signer, as .creds text (malloc'd, holds
 * the seed: wipe it); *pub gets the user's public key. */
static char *ni_user(const nkey *signer, const char *issuer_account, const char *name,
                     const char *const *pubs, size_t npub, const char *const *subs, size_t nsub,
                     int resp_max, char *pub)
{
    nkey *u = NULL;
    vc_err err;
    char *seed = sodium_malloc(NKEY_SEED_LEN + 1), *jwt = NULL, *creds = NULL;
    if (seed == NULL || nkey_generate(&u, NKEY_USER, &err) != VC_OK)
        goto done;
    nkey_public(u, pub);
    nkey_seed(u, seed);
    jwt_user ju = {.user_pub = pub,
                   .name = name,
                   .issuer_account = issuer_account,
                   .pub_allow = pubs,
                   .npub = npub,
                   .sub_allow = subs,
                   .nsub = nsub,
                   .iat = (int64_t)time(NULL),
                   .resp_max = resp_max,
                   .resp_ttl_s = 60};
    json_t *claims = jwt_user_claims(&ju);
    if (claims != NULL)
        jwt = jwt_sign(claims, signer, &err);
    json_decref(claims);
    if (jwt != NULL)
        creds = jwt_creds_text(jwt, seed);
done:
    free(jwt);
    if (seed != NULL)
        sodium_free(seed);
    nkey_free(u);
    return creds;
}

/* An account JWT signed by the operator (malloc'd). */
static char *ni_account(const nkey *op, const char *pub, const char *name, const char *sk_pub)
{
    vc_err err;
    const char *keys[1] = {sk_pub};
    json_t *c =
        jwt_account_claims(pub, name, keys, sk_pub != NULL ? 1 : 0, (int64_t)time(NULL), NULL);
    char *jwt = c != NULL ? jwt_sign(c, op, &err) : NULL;
    json_decref(c);
    return jwt;
}

typedef struct {
    nkey *op, *sys, *app, *sk;
    char op_pub[NI_PUB], sys_pub[NI_PUB], app_pub[NI_PUB], sk_pub[NI_PUB];
    char vault_pub[NI_PUB], admin_pub[NI_PUB], sysuser_pub[NI_PUB];
    char *op_jwt, *sys_jwt, *app_jwt;
    char *op_seed, *sk_seed; /* sodium_malloc */
    char *vault_creds, *admin_creds, *sys_creds;
    char *conf, *yaml;
} ni_state;

static void ni_free(ni_state *s)
{
    nkey_free(s->op);
    nkey_free(s->sys);
    nkey_free(s->app);
    nkey_free(s->sk);
    free(s->op_jwt);
    free(s->sys_jwt);
    free(s->app_jwt);
    if (s->op_seed != NULL)
        sodium_free(s->op_seed);
    if (s->sk_seed != NULL)
        sodium_free(s->sk_seed);
    char *secret[] = {s->vault_creds, s->admin_creds, s->sys_creds};
    for (size_t i = 0; i < 3; i++) {
        if (secret[i] != NULL)
            sodium_memzero(secret[i], strlen(secret[i]));
        free(secret[i]);
    }
    free(s->conf);
    free(s->yaml);
}

static int ni_keys(ni_state *s, const char *const *subjects, size_t nsubjects)
{
    vc_err err;
    if (nkey_generate(&s->op, NKEY_OPERATOR, &err) != VC_OK ||
        nkey_generate(&s->sys, NKEY_ACCOUNT, &err) != VC_OK ||
        nkey_generate(&s->app, NKEY_ACCOUNT, &err) != VC_OK ||
        nkey_generate(&s->sk, NKEY_ACCOUNT, &err) != VC_OK)
        return -1;
    nkey_public(s->op, s->op_pub);
    nkey_public(s->sys, s->sys_pub);
    nkey_public(s->app, s->app_pub);
    nkey_public(s->sk, s->sk_pub);
    if ((s->op_seed = sodium_malloc(NKEY_SEED_LEN + 2)) == NULL ||
        (s->sk_seed = sodium_malloc(NKEY_SEED_LEN + 2)) == NULL)
        return -1;
    nkey_seed(s->op, s->op_seed);
    memcpy(s->op_seed + NKEY_SEED_LEN, "\n", 2); /* the seed is NKEY_SEED_LEN characters */
    nkey_seed(s->sk, s->sk_seed);
    memcpy(s->sk_seed + NKEY_SEED_LEN, "\n", 2);

    json_t *oc =
        jwt_operator_claims(s->op_pub, "vaultctl-operator", s->sys_pub, (int64_t)time(NULL));
    s->op_jwt = oc != NULL ? jwt_sign(oc, s->op, &err) : NULL;
    json_decref(oc);
    s->sys_jwt = ni_account(s->op, s->sys_pub, "SYS", NULL);
    s->app_jwt = ni_account(s->op, s->app_pub, "APP", s->sk_pub);
    if (s->op_jwt == NULL || s->sys_jwt == NULL || s->app_jwt == NULL)
        return -1;

    const char *vault_pub[] = {"vault.replies", "vault.audit"};
    const char *vault_sub[NI_MAX_SUBJECTS + 1];
    for (size_t i = 0; i < nsubjects; i++)
        vault_sub[i] = subjects[i];
    vault_sub[nsubjects] = "$SRV.>";
    s->vault_creds = ni_user(s->sk, s->app_pub, "vaultctl", vault_pub, 2, vault_sub, nsubjects + 1,
                             1, s->vault_pub);
    const char *admin_pub[] = {"admin.requests", "$SRV.>"};
    const char *admin_sub[] = {"_INBOX.admin.>", "vault.replies", "vault.audit"};
    s->admin_creds =
        ni_user(s->sk, s->app_pub, "admin", admin_pub, 2, admin_sub, 3, 0, s->admin_pub);
    const char *sys_pub[] = {"$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", "$SYS.REQ.CLAIMS.UPDATE"};
    const char *sys_sub[] = {"_INBOX.>"};
    /* Signed by the system account's own key: no issuer_account. */
    s->sys_creds =
        ni_user(s->sys, NULL, "vaultctl-system", sys_pub, 2, sys_sub, 1, 0, s->sysuser_pub);
    return s->vault_creds != NULL && s->admin_creds != NULL && s->sys_creds != NULL ? 0 : -1;
}

static char *ni_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *ni_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

/* abs is the absolute path of DIR, for the conf (a quoted string there:
 * the caller refused '"', '\\' and control characters); dir is DIR as given,
 * for vaultctl.yaml. */
static int ni_texts(ni_state *s, const char *abs, const char *dir)
{
    s->conf =
        ni_printf("# nats-server in operator mode, written by `vaultctl nats-init`.\n"
                  "# Run `nats-server -c %s/nats-operator.conf` (add listen/port as\n"
                  "# needed), or `include` this file from your own configuration.\n"
                  "operator: %s\n"
                  "system_account: %s\n"
                  "# The full resolver keeps every account JWT in dir. An account JWT\n"
                  "# pushed to $SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE (vaultctl's\n"
                  "# revoke) is written there and survives a restart: at start a\n"
                  "# preload entry below replaces a kept JWT only when the kept one is\n"
                  "# not newer (its iat; vaultctl signs its pushes later than\n"
                  "# account.jwt). So revoked users stay refused across restarts even\n"
                  "# with no vaultctl running. nats-init made dir 0700: whoever may\n"
                  "# write it can put back a JWT without the revocations. With several\n"
                  "# servers, give each its own dir; they exchange JWTs every interval.\n"
                  "resolver: {\n"
                  "  type: full\n"
                  "  dir: \"%s/" NI_JWT_DIR "\"\n"
                  "  allow_delete: false\n"
                  "  interval: \"2m\"\n"
                  "}\n"
                  "resolver_preload: {\n"
                  "  # SYS\n"
                  "  %s: \"%s\"\n"
                  "  # APP (vaultctl and the users it mints)\n"
                  "  %s: \"%s\"\n"
                  "}\n",
                  abs, s->op_jwt, s->sys_pub, abs, s->sys_pub, s->sys_jwt, s->app_pub, s->app_jwt);
    s->yaml = ni_printf("# For vaultctl's configuration, written by `vaultctl nats-init`.\n"
                        "nats:\n"
                        "  creds: %s/vault.creds\n"
                        "nats_credentials:\n"
                        "  account: %s\n"
                        "  signing_key: %s/account-signing.nk\n"
                        "  # revoke with public_key: re-sign account.jwt with the operator\n"
                        "  # key and push it as the system user\n"
                        "  operator_signing_key: %s/operator.nk\n"
                        "  account_jwt: %s/account.jwt\n"
                        "  system_creds: %s/system.creds\n"
                        "  roles:\n"
                        "    agent:\n"
                        "      publish: [\"agents.requests\", \"agents.{name}.>\"]\n"
                        "      subscribe: [\"_INBOX.{name}.>\", \"agents.{name}.>\"]\n"
                        "      ttl: 15m\n"
                        "      max_ttl: 1h\n",
                        dir, s->app_pub, dir, dir, dir, dir);
    return s->conf != NULL && s->yaml != NULL ? 0 : -1;
}

int cmd_nats_init(int argc, char **argv)
{
    const char *dir = NULL, *subjects[NI_MAX_SUBJECTS];
    size_t nsubjects = 0;
    ni_state s;
    int rc = EXIT_ERROR, dirfd = -1;
    char *abs = NULL; /* realpath of dir, malloc'd */

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--subject") == 0 && i + 1 < argc) {
            if (nsubjects == NI_MAX_SUBJECTS)
                return ni_usage();
            subjects[nsubjects++] = argv[++i];
        } else if (argv[i][0] == '-' || dir != NULL) {
            return ni_usage();
        } else {
            dir = argv[i];
        }
    }
    if (dir == NULL)
        return ni_usage();
    if (nsubjects == 0) {
        static const char *const def[] = {"vault.requests", "admin.requests", "user.requests",
                                          "agents.requests"};
        for (; nsubjects < 4; nsubjects++)
            subjects[nsubjects] = def[nsubjects];
    }
    if (sodium_init() < 0) {
        cmd_fail("nats-init: libsodium failed to initialise");
        return EXIT_ERROR;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cmd_fail("nats-init: %s: %s", dir, strerror(errno));
        return EXIT_ERROR;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        cmd_fail("nats-init: %s: %s", dir, strerror(errno));
        return EXIT_ERROR;
    }
    /* Nothing is written when anything would be overwritten. */
    for (size_t i = 0; i <= NI_NFILES; i++) {
        const char *name = i < NI_NFILES ? ni_files[i] : NI_JWT_DIR;
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
            cmd_fail("nats-init: %s/%s already exists; nothing written (nats-init never "
                     "overwrites: use an empty directory)",
                     dir, name);
            close(dirfd);
            return EXIT_ERROR;
        }
    }
    /* The conf names the resolver's directory by absolute path. */
    abs = realpath(dir, NULL);
    if (abs == NULL) {
        cmd_fail("nats-init: %s: %s", dir, strerror(errno));
        close(dirfd);
        return EXIT_ERROR;
    }
    for (const char *p = abs; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f) {
            cmd_fail("nats-init: %s: the path holds a quote, a backslash or a control "
                     "character, which nats-server's configuration cannot carry; use another "
                     "directory",
                     dir);
            free(abs);
            close(dirfd);
            return EXIT_ERROR;
        }
    }
    memset(&s, 0, sizeof s);
    if (ni_keys(&s, subjects, nsubjects) != 0 || ni_texts(&s, abs, dir) != 0) {
        cmd_fail("nats-init: out of memory");
        goto out;
    }
    if (mkdirat(dirfd, NI_JWT_DIR, 0700) != 0) {
        cmd_fail("nats-init: %s/" NI_JWT_DIR ": %s", dir, strerror(errno));
        goto out;
    }
    printf("wrote %s/" NI_JWT_DIR "/ (empty, 0700: nats-server keeps account JWTs there)\n", dir);
    const char *texts[NI_NFILES] = {s.conf,        s.op_jwt,    s.op_seed, s.sk_seed, s.vault_creds,
                                    s.admin_creds, s.sys_creds, s.yaml,    s.app_jwt};
    for (size_t i = 0; i < NI_NFILES; i++) {
        if (write_new(dirfd, dir, ni_files[i], texts[i]) != 0)
            goto out;
        printf("wrote %s/%s\n", dir, ni_files[i]);
    }
    printf("\noperator        %s\n"
           "system account  %s\n"
           "app account     %s\n"
           "  signing key   %s (seed in account-signing.nk)\n"
           "  vaultctl user %s (vault.creds)\n"
           "  admin user    %s (admin.creds)\n"
           "system user     %s (system.creds)\n",
           s.op_pub, s.sys_pub, s.app_pub, s.sk_pub, s.vault_pub, s.admin_pub, s.sysuser_pub);
    printf("\nNext steps:\n"
           "  1. nats-server -c %s/nats-operator.conf\n"
           "  2. put the sections of %s/vaultctl.yaml into vaultctl's configuration\n"
           "     (nats.creds, nats_credentials) and start vaultctl serve\n"
           "  3. mint credentials for an agent:\n"
           "       vaultctl request --creds %s/admin.creds --inbox-prefix _INBOX.admin \\\n"
           "         --field role=agent --field name=agent-7 --field ttl=10m \\\n"
           "         --creds-out agent-7.creds admin.requests creds\n"
           "  4. revoke them before they expire (the server drops the connection at once\n"
           "     and keeps the revocation in %s/" NI_JWT_DIR " across restarts):\n"
           "       vaultctl request --creds %s/admin.creds --inbox-prefix _INBOX.admin \\\n"
           "         --field public_key=U... admin.requests revoke\n"
           "  Keep operator.nk offline unless vaultctl revokes credentials; every file here\n"
           "  but nats-operator.conf, operator.jwt and account.jwt is a secret.\n",
           dir, dir, dir, dir, dir);
    rc = EXIT_OK;
out:
    ni_free(&s);
    free(abs);
    close(dirfd);
    return rc;
}
