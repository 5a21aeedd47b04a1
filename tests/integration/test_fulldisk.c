/* test_fulldisk.c - a store that runs out of room: with storage.map_size
 * 1 MiB, `set` answers unavailable (503) once the store is full, reads,
 * list and status keep working, every acknowledged write reads back (also
 * after a restart), and deletes make room so writes work again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define VALUE_CHARS 3000 /* about a page of LMDB per record */
#define MAX_KEYS    2000 /* far more than 1 MiB holds */

static it_nats nats;
static it_vault vault;
static natsConnection *admin;
static int acked; /* keys fill/0 .. fill/acked-1 are stored */
static int acked_version[MAX_KEYS];

/* Puts "  map_size: 1MiB" under the storage: section of the config that
 * it_vault_init wrote. */
static int set_map_size(const char *path)
{
    static const char section[] = "storage:\n";
    char text[8192];
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;

    if (f == NULL)
        return -1;
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, section);
    if (at == NULL || (f = fopen(path, "w")) == NULL)
        return -1;
    at += strlen(section);
    /* No kept versions: an overwrite then needs no more room than the
     * record it replaces, which test_delete_makes_room counts on (with
     * history each overwrite also keeps the old record). */
    fprintf(f, "%.*s  map_size: 1MiB\n%shistory:\n  max_versions: 1\n", (int)(at - text), text, at);
    return fclose(f) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return it_up(&nats, &vault, set_map_size, &admin);
}

static int teardown(void **state)
{
    (void)state;
    it_down(&nats, &vault, admin);
    return 0;
}

static json_t *req(const char *payload)
{
    json_t *r = it_request(admin, "admin.requests", payload, 10000, NULL);
    if (r == NULL)
        it_vault_dump_log(&vault);
    assert_non_null(r);
    return r;
}

/* set fill/i to a value that names i and its round, then a long filler. */
static json_t *set_key(int i, int round)
{
    static char payload[VALUE_CHARS + 256];
    int n = snprintf(payload, sizeof payload,
                     "{\"operation\":\"set\",\"key\":\"fill/%d\",\"value\":\"%d:%d:", i, i, round);
    assert_true(n > 0 && (size_t)n + VALUE_CHARS + 3 < sizeof payload);
    memset(payload + n, 'x', VALUE_CHARS);
    strcpy(payload + n + VALUE_CHARS, "\"}");
    return req(payload);
}

/* Every acknowledged key reads back with its value and version. */
static int check_all(void)
{
    char payload[128], want[64];
    int bad = 0;
    for (int i = 0; i < acked; i++) {
        if (acked_version[i] == 0)
            continue; /* deleted */
        snprintf(payload, sizeof payload, "{\"operation\":\"get\",\"key\":\"fill/%d\"}", i);
        json_t *r = req(payload);
        const char *v = json_string_value(json_object_get(r, "data"));
        int n = snprintf(want, sizeof want, "%d:%d:", i, acked_version[i]);
        if (strcmp(it_status(r), "success") != 0 || v == NULL || strncmp(v, want, (size_t)n) != 0 ||
            strlen(v) != (size_t)n + VALUE_CHARS ||
            json_integer_value(json_object_get(json_object_get(r, "meta"), "version")) !=
                acked_version[i])
            bad++;
        json_decref(r);
    }
    return bad;
}

static void test_fill_until_unavailable(void **state)
{
    (void)state;
    natsMsg *m = NULL;
    const char *hv = NULL;
    int i;

    for (i = 0; i < MAX_KEYS; i++) {
        json_t *r = set_key(i, 1);
        if (strcmp(it_status(r), "success") != 0) {
            assert_string_equal(it_code(r), "unavailable");
            fprintf(stderr, "full after %d sets: %s\n", i,
                    json_string_value(json_object_get(r, "message")));
            json_decref(r);
            break;
        }
        acked_version[i] = 1;
        json_decref(r);
    }
    acked = i;
    assert_true(acked > 10);
    assert_true(acked < MAX_KEYS);

    /* It stays full: more sets of new keys, and the service error headers. */
    char payload[VALUE_CHARS + 256];
    int n = snprintf(payload, sizeof payload,
                     "{\"operation\":\"set\",\"key\":\"fill/new\",\"value\":\"");
    memset(payload + n, 'y', VALUE_CHARS);
    strcpy(payload + n + VALUE_CHARS, "\"}");
    for (int k = 0; k < 5; k++) {
        json_t *r = it_request(admin, "admin.requests", payload, 10000, &m);
        assert_non_null(r);
        assert_string_equal(it_code(r), "unavailable");
        assert_int_equal(natsMsgHeader_Get(m, "Nats-Service-Error-Code", &hv), NATS_OK);
        assert_string_equal(hv, "503");
        natsMsg_Destroy(m);
        json_decref(r);
    }
    json_t *r = req("{\"operation\":\"get\",\"key\":\"fill/new\"}");
    assert_string_equal(it_code(r), "not_found");
    json_decref(r);
}

static void test_reads_work_when_full(void **state)
{
    (void)state;
    assert_int_equal(check_all(), 0);
    json_t *r = req("{\"operation\":\"list\",\"prefix\":\"fill/\"}");
    assert_string_equal(it_status(r), "success");
    assert_int_equal((int)json_array_size(json_object_get(r, "data")), acked);
    json_decref(r);
    r = req("{\"operation\":\"status\"}");
    assert_string_equal(it_status(r), "success");
    json_t *st = json_object_get(json_object_get(r, "data"), "storage");
    fprintf(stderr, "status when full: keys %lld, map_size %lld, used_bytes %lld\n",
            (long long)json_integer_value(json_object_get(json_object_get(r, "data"), "keys")),
            (long long)json_integer_value(json_object_get(st, "map_size")),
            (long long)json_integer_value(json_object_get(st, "used_bytes")));
    assert_int_equal(json_integer_value(json_object_get(st, "map_size")), 1024 * 1024);
    json_decref(r);
}

/* A rotation needs room for a copy of each batch; on a full store it may
 * refuse (unavailable), but must never lose or damage a record. */
static void test_rotate_when_full(void **state)
{
    (void)state;
    json_t *r = req("{\"operation\":\"rotate\"}");
    fprintf(stderr, "rotate when full: %s %s\n", it_status(r),
            strcmp(it_status(r), "success") == 0 ? "" : it_code(r));
    if (strcmp(it_status(r), "success") != 0)
        assert_string_equal(it_code(r), "unavailable");
    json_decref(r);
    assert_int_equal(check_all(), 0);
}

static void test_restart_when_full(void **state)
{
    (void)state;
    assert_int_equal(it_vault_stop(&vault), 0);
    assert_int_equal(it_vault_start(&vault, &nats), 0);
    assert_int_equal(check_all(), 0);
}

static void test_delete_makes_room(void **state)
{
    (void)state;
    char payload[128];
    int deleted = 0;

    /* Delete a third of the keys. */
    for (int i = 0; i < acked; i += 3) {
        snprintf(payload, sizeof payload, "{\"operation\":\"delete\",\"key\":\"fill/%d\"}", i);
        json_t *r = req(payload);
        if (strcmp(it_status(r), "success") != 0) {
            char *s = json_dumps(r, 0);
            fprintf(stderr, "delete of fill/%d: %s\n", i, s);
            free(s);
        }
        assert_string_equal(it_status(r), "success");
        json_decref(r);
        acked_version[i] = 0;
        deleted++;
    }
    /* Writes work again: overwrite some of the survivors and re-create
     * half of the deleted ones. */
    int rewrites = 0;
    for (int i = 1; i < acked && rewrites < deleted / 2; i += 3, rewrites++) {
        json_t *r = set_key(i, 2);
        if (strcmp(it_status(r), "success") != 0) {
            char *s = json_dumps(r, 0);
            fprintf(stderr, "set after delete of fill/%d: %s\n", i, s);
            free(s);
        }
        assert_string_equal(it_status(r), "success");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "meta"), "version")),
                         2);
        acked_version[i] = 2;
        json_decref(r);
    }
    int recreated = 0;
    for (int i = 0; i < acked && recreated < deleted / 2; i += 3, recreated++) {
        json_t *r = set_key(i, 1);
        assert_string_equal(it_status(r), "success");
        acked_version[i] = 1;
        json_decref(r);
    }
    fprintf(stderr, "after %d deletes: %d overwrites and %d new keys accepted\n", deleted, rewrites,
            recreated);
    assert_int_equal(check_all(), 0);
}

static void test_full_again_and_consistent(void **state)
{
    (void)state;
    /* Fill up again (new keys above acked), then everything still reads. */
    int extra = 0;
    for (int i = acked; i < MAX_KEYS; i++) {
        json_t *r = set_key(i, 1);
        bool ok = strcmp(it_status(r), "success") == 0;
        if (!ok)
            assert_string_equal(it_code(r), "unavailable");
        json_decref(r);
        if (!ok)
            break;
        acked_version[i] = 1;
        extra++;
    }
    acked += extra;
    fprintf(stderr, "refilled with %d more keys\n", extra);
    assert_true(acked < MAX_KEYS);
    assert_int_equal(check_all(), 0);
    /* The local CLI opens every record too (rotate re-seals them all, or
     * refuses for lack of room without damage). */
    char *out = NULL;
    const char *args[] = {"status", NULL};
    assert_int_equal(it_run(vault.config, &out, args), 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_until_unavailable),
        cmocka_unit_test(test_reads_work_when_full),
        cmocka_unit_test(test_rotate_when_full),
        cmocka_unit_test(test_restart_when_full),
        cmocka_unit_test(test_delete_makes_room),
        cmocka_unit_test(test_full_again_and_consistent),
    };
    if (getenv("IT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("IT_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
