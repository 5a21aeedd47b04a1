/* test_acl.c - subject matching, subject validity and access decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"

static void test_match_exact(void **state)
{
    (void)state;
    assert_true(acl_subject_matches("admin.requests", "admin.requests"));
    assert_false(acl_subject_matches("admin.requests", "admin.request"));
    assert_false(acl_subject_matches("admin.requests", "admin.requests.x"));
    assert_false(acl_subject_matches("admin.requests.x", "admin.requests"));
    assert_false(acl_subject_matches("admin", "admins"));
    assert_false(acl_subject_matches("admin", ""));
    assert_false(acl_subject_matches("", "admin"));
    assert_false(acl_subject_matches(NULL, "admin"));
    assert_false(acl_subject_matches("admin", NULL));
}

static void test_match_star(void **state)
{
    (void)state;
    assert_true(acl_subject_matches("team.*.requests", "team.a.requests"));
    assert_true(acl_subject_matches("team.*.requests", "team.bb.requests"));
    assert_false(acl_subject_matches("team.*.requests", "team.requests"));
    assert_false(acl_subject_matches("team.*.requests", "team.a.b.requests"));
    assert_true(acl_subject_matches("*", "x"));
    assert_false(acl_subject_matches("*", "x.y"));
    assert_true(acl_subject_matches("*.*", "x.y"));
    assert_true(acl_subject_matches("a.*", "a.b"));
    assert_false(acl_subject_matches("a.*", "a"));
}

static void test_match_gt(void **state)
{
    (void)state;
    assert_true(acl_subject_matches("svc.>", "svc.a"));
    assert_true(acl_subject_matches("svc.>", "svc.a.b.c"));
    assert_false(acl_subject_matches("svc.>", "svc"));
    assert_false(acl_subject_matches("svc.>", "other.a"));
    assert_true(acl_subject_matches(">", "anything.at.all"));
    assert_true(acl_subject_matches("*.x.>", "a.x.b"));
    assert_false(acl_subject_matches("*.x.>", "a.x"));
}

static void test_subject_valid(void **state)
{
    (void)state;
    assert_true(acl_subject_valid("admin.requests"));
    assert_true(acl_subject_valid("a.*.b"));
    assert_true(acl_subject_valid("a.>"));
    assert_true(acl_subject_valid(">"));
    assert_true(acl_subject_valid("*"));
    assert_true(acl_subject_valid("a-b_c.$x"));
    assert_false(acl_subject_valid(""));
    assert_false(acl_subject_valid(NULL));
    assert_false(acl_subject_valid("a..b"));
    assert_false(acl_subject_valid(".a"));
    assert_false(acl_subject_valid("a."));
    assert_false(acl_subject_valid("a.>.b"));
    assert_false(acl_subject_valid("a b"));
    assert_false(acl_subject_valid("a\tb"));
    assert_false(acl_subject_valid("a\x7f"));
    assert_false(acl_subject_valid("a.*x"));
    assert_false(acl_subject_valid("a.x*"));
    assert_false(acl_subject_valid("a.>>"));
    assert_false(acl_subject_valid("a.b>"));
}

static const acl_rule rules[] = {
    {"admin.requests", OP_ALL_BITS, false, NULL, 0},
    {"user.requests", OP_BIT(OP_GET) | OP_BIT(OP_SET), false, NULL, 0},
    {"team.ro.>", OP_BIT(OP_GET) | OP_BIT(OP_LIST), false, NULL, 0},
    {"team.*.requests", OP_ALL_BITS, false, NULL, 0},
    {"team.>", OP_BIT(OP_STATUS), false, NULL, 0},
};
static const size_t nrules = sizeof rules / sizeof rules[0];

static vc_code check(const char *arrival, const char *claimed, vc_op op, vc_err *err)
{
    acl_request req = {.arrival = arrival, .claimed = claimed, .op = op};
    vc_err_clear(err);
    return acl_check(rules, nrules, &req, err);
}

static void assert_denied(vc_code rc, const vc_err *err)
{
    assert_int_equal(rc, VC_ACCESS_DENIED);
    assert_int_equal(err->code, VC_ACCESS_DENIED);
    assert_string_equal(err->msg, "Access denied");
}

static void test_check_exact(void **state)
{
    (void)state;
    vc_err err;
    for (int op = 0; op < OP_COUNT; op++)
        assert_int_equal(check("admin.requests", NULL, (vc_op)op, &err), VC_OK);
    assert_int_equal(check("user.requests", NULL, OP_GET, &err), VC_OK);
    assert_int_equal(check("user.requests", NULL, OP_SET, &err), VC_OK);
    assert_denied(check("user.requests", NULL, OP_DELETE, &err), &err);
    assert_denied(check("user.requests", NULL, OP_LIST, &err), &err);
    assert_denied(check("user.requests", NULL, OP_ROTATE, &err), &err);
    assert_denied(check("user.requests", NULL, OP_STATUS, &err), &err);
}

static void test_check_wildcards(void **state)
{
    (void)state;
    vc_err err;
    assert_int_equal(check("team.ro.x", NULL, OP_LIST, &err), VC_OK);
    assert_int_equal(check("team.a.requests", NULL, OP_DELETE, &err), VC_OK);
    assert_int_equal(check("team.a.other", NULL, OP_STATUS, &err), VC_OK);
    assert_denied(check("team.a.other", NULL, OP_GET, &err), &err);
}

static void test_check_first_match_wins(void **state)
{
    (void)state;
    vc_err err;
    /* team.ro.requests matches "team.ro.>" first (no delete) even though the
     * later "team.*.requests" would allow everything. */
    assert_denied(check("team.ro.requests", NULL, OP_DELETE, &err), &err);
    assert_denied(check("team.ro.requests", NULL, OP_STATUS, &err), &err);
    assert_int_equal(check("team.ro.requests", NULL, OP_GET, &err), VC_OK);
}

static void test_check_no_match(void **state)
{
    (void)state;
    vc_err err;
    assert_denied(check("vault.requests", NULL, OP_GET, &err), &err);
    assert_denied(check("admin", NULL, OP_STATUS, &err), &err);
    assert_denied(check("admin.requests.x", NULL, OP_GET, &err), &err);
    acl_request req = {.arrival = "admin.requests", .op = OP_GET};
    assert_denied(acl_check(NULL, 0, &req, &err), &err);
}

static void test_check_spoofed_subject(void **state)
{
    (void)state;
    vc_err err;
    /* A user claiming to be admin is denied even for what user may do. */
    assert_denied(check("user.requests", "admin.requests", OP_GET, &err), &err);
    assert_denied(check("user.requests", "admin.requests", OP_ROTATE, &err), &err);
    assert_denied(check("admin.requests", "user.requests", OP_GET, &err), &err);
    assert_denied(check("admin.requests", "", OP_GET, &err), &err);
    /* A claim equal to the arrival subject is fine. */
    assert_int_equal(check("user.requests", "user.requests", OP_GET, &err), VC_OK);
}

static void test_check_local(void **state)
{
    (void)state;
    vc_err err;
    for (int op = 0; op < OP_COUNT; op++)
        assert_int_equal(check(NULL, NULL, (vc_op)op, &err), VC_OK);
    acl_request req = {.arrival = NULL, .op = OP_ROTATE};
    assert_int_equal(acl_check(NULL, 0, &req, &err), VC_OK);
}

static void test_check_bad_op(void **state)
{
    (void)state;
    vc_err err;
    assert_denied(check("admin.requests", NULL, OP_NONE, &err), &err);
    assert_denied(check("admin.requests", NULL, OP_COUNT, &err), &err);
}

/* Issue 11 item 1: the rights of a subject, and the --check warning about
 * a later wildcard matching a proper token prefix of an earlier entry. */
static void test_rights_and_prefix_shadowing(void **state)
{
    (void)state;
    const acl_rule arules[] = {
        {"apps.*.readonly.requests", OP_BIT(OP_GET), false, NULL, 0},
        {"apps.>", OP_ALL_BITS, false, NULL, 0},
        {"none.requests", 0, false, NULL, 0},
    };
    assert_int_equal(acl_rights(arules, 3, "apps.x.readonly.requests"), OP_BIT(OP_GET));
    assert_int_equal(acl_rights(arules, 3, "apps.x"), OP_ALL_BITS);
    assert_int_equal(acl_rights(arules, 3, "none.requests"), 0);
    assert_int_equal(acl_rights(arules, 3, "vault.requests"), 0);

    assert_true(acl_shadows_prefix("apps.>", "apps.*.readonly.requests"));
    assert_true(acl_shadows_prefix("apps.*", "apps.*.readonly.requests"));
    assert_true(acl_shadows_prefix("*.x", "apps.*.readonly.requests"));
    assert_true(acl_shadows_prefix(">", "admin.requests"));
    assert_true(acl_shadows_prefix("admin", "admin.requests"));
    assert_false(acl_shadows_prefix("user.requests", "admin.requests"));
    assert_false(acl_shadows_prefix("apps.*.readonly.requests", "apps.>"));
    assert_false(acl_shadows_prefix("apps.*.*.requests", "apps.*.readonly.requests"));
    assert_false(acl_shadows_prefix("other.>", "apps.*.readonly.requests"));
    assert_false(acl_shadows_prefix("admin.requests", "admin.requests"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights_and_prefix_shadowing),
        cmocka_unit_test(test_match_exact),
        cmocka_unit_test(test_match_star),
        cmocka_unit_test(test_match_gt),
        cmocka_unit_test(test_subject_valid),
        cmocka_unit_test(test_check_exact),
        cmocka_unit_test(test_check_wildcards),
        cmocka_unit_test(test_check_first_match_wins),
        cmocka_unit_test(test_check_no_match),
        cmocka_unit_test(test_check_spoofed_subject),
        cmocka_unit_test(test_check_local),
        cmocka_unit_test(test_check_bad_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
