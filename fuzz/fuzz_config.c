/* fuzz_config.c - libFuzzer target: configuration parsing
 * (config_load_string) of arbitrary YAML with an empty environment, and the
 * summary of what parsed (config_describe).
 *
 * Checks beyond "no crash, no leak, no UB": a failure is VC_CONFIG with a
 * non-empty message; a success has the settings the service relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *const envp[] = {NULL};
    config *c = NULL;
    vc_err err;

    vc_err_clear(&err);
    vc_code rc = config_load_string(&c, "fuzz.yaml", (const char *)data, size,
                                    envp, &err);
    if (rc != VC_OK) {
        if (rc != VC_CONFIG || c != NULL || err.msg[0] == '\0' ||
            memchr(err.msg, '\0', sizeof err.msg) == NULL)
            abort();
        return 0;
    }
    if (c == NULL || c->nats_url == NULL || c->storage_path == NULL ||
        c->subject_request == NULL || c->subject_reply == NULL ||
        c->master_key == NULL || (c->acl_count > 0 && c->acl == NULL) ||
        c->max_request_bytes < c->max_value_bytes)
        abort();
    for (size_t i = 0; i < c->acl_count; i++)
        if (c->acl[i].subject == NULL || !acl_subject_valid(c->acl[i].subject))
            abort();
    char *desc = config_describe(c);
    free(desc);
    config_free(c);
    return 0;
}
