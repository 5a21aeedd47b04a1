/* fuzz_request.c - libFuzzer target: one request payload through the whole
 * request path (ops_handle: size check, proto_parse, ACL, the operation on a
 * real vault, reply building), as the service runs it.
 *
 * Input: byte 0 picks the arrival subject (which ACL entry applies, or the
 * local CLI); the rest is the payload. The vault lives in a temporary
 * directory (on /dev/shm when there is one: every set is synced) created once
 * in LLVMFuzzerInitialize, holds a few seeded keys, and is trimmed back to
 * them when fuzzed sets have grown it, so rotations stay cheap.
 *
 * jansson allocates through jalloc, as in the binary.
 *
 * Checks beyond "no crash, no leak, no UB": every reply is a JSON object
 * with a status; an error reply's code is the one ops_handle reports. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "acl.h"
#include "jalloc.h"
#include "ops.h"
#include "seal.h"
#include "vault.h"

#define MAX_RECORDS 256 /* trim fuzzed keys beyond this many records */
#define MAP_SIZE    (64u << 20)

static const char *const arrivals[] = {
    "admin.requests",
    "user.requests",
    "vault.requests",
    "team.blue.requests",
    "team.blue.requests.extra",
    "agents.requests",
    NULL, /* NULL: the local CLI, every right */
};
#define N_ARRIVALS (sizeof arrivals / sizeof arrivals[0])

static const acl_rule rules[] = {
    {.subject = "admin.requests", .ops = OP_ALL_BITS},
    {.subject = "user.requests", .ops = OP_BIT(OP_GET) | OP_BIT(OP_SET)},
    {.subject = "team.*.requests", .ops = OP_BIT(OP_GET) | OP_BIT(OP_LIST) | OP_BIT(OP_STATUS)},
    {.subject = "team.>", .ops = OP_BIT(OP_STATUS)},
    {.subject = "agents.requests", .ops = 0, .tokens = true},
};

static const char *const seeded[] = {"svc/db", "svc/api", "app/token", "k"};
#define N_SEEDED (sizeof seeded / sizeof seeded[0])

static char dir[64];
static seal_master *master;
static vault *vlt;
static ops_ctx ctx;

static void die(const char *what, const vc_err *err)
{
    fprintf(stderr, "fuzz_request: %s: %s\n", what, err != NULL ? err->msg : "");
    abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    vault_close(vlt);
    seal_master_free(master);
    (void)nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static bool is_seeded(const char *name)
{
    for (size_t i = 0; i < N_SEEDED; i++)
        if (strcmp(name, seeded[i]) == 0)
            return true;
    return false;
}

/* Deletes every key the fuzzer created once there are too many. */
static void trim(void)
{
    vault_status_info st;
    char **names = NULL;
    size_t count = 0;
    bool more = false;
    vc_err err;

    if (vault_status(vlt, &st, &err) != VC_OK)
        die("status", &err);
    if (st.keys <= MAX_RECORDS)
        return;
    if (vault_list(vlt, NULL, 0, NULL, 0, 0, &names, &count, &more, NULL, &err) != VC_OK)
        die("list", &err);
    for (size_t i = 0; i < count; i++)
        if (!is_seeded(names[i]) && vault_delete(vlt, names[i], strlen(names[i]), &err) != VC_OK)
            die("delete", &err);
    vault_names_free(names, count);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char key[SEAL_KEYGEN_B64];
    vc_err err;
    (void)argc;
    (void)argv;

    jalloc_install(); /* as the binary runs: before any jansson call */
    if (seal_init(&err) != VC_OK)
        die("seal_init", &err);
    snprintf(dir, sizeof dir, "%s/vaultctl-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    if (seal_keygen_b64(key, sizeof key, &err) != VC_OK ||
        seal_master_parse(&master, key, strlen(key), "fuzz key", &err) != VC_OK)
        die("master key", &err);
    if (vault_open(&vlt, dir, MAP_SIZE, master, &err) != VC_OK)
        die("vault_open", &err);
    for (size_t i = 0; i < N_SEEDED; i++) {
        static const char value[] = "{\"user\":\"u\",\"pw\":\"p\"}";
        if (vault_set(vlt, seeded[i], strlen(seeded[i]), value, sizeof value - 1, NULL, &err) !=
            VC_OK)
            die("seed", &err);
    }
    atexit(cleanup);
    ctx = (ops_ctx){
        .vault = vlt,
        .rules = rules,
        .nrules = sizeof rules / sizeof rules[0],
        .max_value_bytes = 4096,
        .storage_path = dir,
        .started = 1,
        .service_version = "fuzz",
        .max_request_bytes = 65536,
    };
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ops_reply r;
    json_error_t jerr;

    if (size == 0)
        return 0;
    ops_handle(&ctx, arrivals[data[0] % N_ARRIVALS], data + 1, size - 1, &r);

    if (r.body == NULL || r.len == 0)
        abort();
    json_t *j = json_loadb(r.body, r.len, 0, &jerr);
    const char *status = json_string_value(json_object_get(j, "status"));
    if (j == NULL || status == NULL)
        abort(); /* a reply that is not a JSON object with a status */
    if (r.code == VC_OK) {
        if (strcmp(status, "success") != 0)
            abort();
    } else {
        const char *code = json_string_value(json_object_get(j, "code"));
        if (strcmp(status, "error") != 0 || code == NULL ||
            strcmp(code, vc_code_name(r.code)) != 0 || r.code == VC_CONFIG)
            abort();
    }
    json_decref(j);
    if (r.op == OP_SET && r.code == VC_OK)
        trim();
    ops_reply_free(&r);
    return 0;
}
