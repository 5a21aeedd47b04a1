/* test_natsmsg.c - true subject lengths (natsmsg.h) and log escaping
 * (log.h log_escape): issue 11 items 1 and 6. The messages with a NUL in
 * the subject are built as nats.c builds a received one (natsMsg_Create
 * copies strlen bytes, so a NUL is put in afterwards, in place). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "natsmsg.h"

static void test_self_check(void **state)
{
    (void)state;
    vc_err err;
    assert_int_equal(natsmsg_self_check(&err), VC_OK);
}

static void test_plain_lengths(void **state)
{
    (void)state;
    natsMsg *m = NULL;
    size_t sl, rl;
    assert_int_equal(natsMsg_Create(&m, "apps.x.readonly.requests", "_INBOX.a.b", "{}", 2),
                     NATS_OK);
    assert_true(natsmsg_lengths(m, &sl, &rl));
    assert_int_equal(sl, strlen("apps.x.readonly.requests"));
    assert_int_equal(rl, strlen("_INBOX.a.b"));
    natsMsg_Destroy(m);
    assert_int_equal(natsMsg_Create(&m, "a.b", NULL, "", 0), NATS_OK);
    assert_true(natsmsg_lengths(m, &sl, &rl));
    assert_int_equal(sl, 3);
    assert_int_equal(rl, 0);
    natsMsg_Destroy(m);
}

/* "apps.x<NUL>.readonly.requests": with a reply, without, and a NUL in the
 * reply: the true length is seen, or the layout is refused. */
static void test_nul_inside(void **state)
{
    (void)state;
    natsMsg *m = NULL;
    size_t sl, rl;
    const char *full = "apps.x#.readonly.requests";

    assert_int_equal(natsMsg_Create(&m, full, "_INBOX.a.b", "{}", 2), NATS_OK);
    ((char *)natsMsg_GetSubject(m))[6] = '\0';
    assert_true(natsmsg_lengths(m, &sl, &rl));
    assert_int_equal(sl, strlen(full));
    assert_false(natsmsg_subject_clean(natsMsg_GetSubject(m), sl));
    natsMsg_Destroy(m);

    /* No reply: the rest of the subject cannot pass for data or headers. */
    assert_int_equal(natsMsg_Create(&m, full, NULL, "{}", 2), NATS_OK);
    ((char *)natsMsg_GetSubject(m))[6] = '\0';
    assert_false(natsmsg_lengths(m, &sl, &rl));
    natsMsg_Destroy(m);

    /* Even when that rest looks like the start of a header block. */
    assert_int_equal(natsMsg_Create(&m, "a.b#NATS/1.0", NULL, "x", 1), NATS_OK);
    ((char *)natsMsg_GetSubject(m))[3] = '\0';
    assert_false(natsmsg_lengths(m, &sl, &rl));
    natsMsg_Destroy(m);

    /* A NUL in the reply. */
    assert_int_equal(natsMsg_Create(&m, "a.b", "vault#.audit", "x", 1), NATS_OK);
    ((char *)natsMsg_GetReply(m))[5] = '\0';
    assert_false(natsmsg_lengths(m, &sl, &rl));
    natsMsg_Destroy(m);
}

static void test_subject_clean(void **state)
{
    (void)state;
    assert_true(natsmsg_subject_clean("admin.requests", 14));
    assert_true(natsmsg_subject_clean("caf\xc3\xa9.x", 7));
    assert_false(natsmsg_subject_clean("", 0));
    assert_false(natsmsg_subject_clean("a\0b", 3));
    assert_false(natsmsg_subject_clean("a b", 3));
    assert_false(natsmsg_subject_clean("a\tb", 3));
    assert_false(natsmsg_subject_clean("a\x1b[31m", 6));
    assert_false(natsmsg_subject_clean("a\x7f", 2));
    assert_false(natsmsg_subject_clean("a\xff", 2));
    assert_false(natsmsg_subject_clean("a\xc0\x80", 3));     /* overlong */
    assert_false(natsmsg_subject_clean("a\xed\xa0\x80", 4)); /* surrogate */
    assert_false(natsmsg_subject_clean("a\xe2\x82", 3));     /* cut */
}

/* Item 6: every byte but printable ASCII (and \ ") as \xNN. */
static void test_log_escape(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(log_escape(out, sizeof out, "admin.requests", 14), "admin.requests");
    assert_string_equal(log_escape(out, sizeof out, "a\x1b[2Jb", 6), "a\\x1b[2Jb");
    assert_string_equal(log_escape(out, sizeof out, "x\0y", 3), "x\\x00y");
    assert_string_equal(log_escape(out, sizeof out, "\"\\\n\x7f\xc3\xa9", 6),
                        "\\x22\\x5c\\x0a\\x7f\\xc3\\xa9");
    /* Cut short: ends in "...", never overflows, never half an escape. */
    char tiny[10];
    assert_string_equal(log_escape(tiny, sizeof tiny, "\x01\x02\x03", 3), "\\x01...");
    assert_string_equal(log_escape(tiny, sizeof tiny, "abcdefghijkl", 12), "abcdef...");
    assert_string_equal(log_escape(tiny, sizeof tiny, "abcdefghi", 9), "abcdefghi");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_check), cmocka_unit_test(test_plain_lengths),
        cmocka_unit_test(test_nul_inside), cmocka_unit_test(test_subject_clean),
        cmocka_unit_test(test_log_escape),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_Close();
    return rc;
}
