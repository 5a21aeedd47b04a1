/* acl.c - access decisions by arrival subject (see acl.h; the rules are in
 * docs/protocol.md, "Access control").
 *
 * Subject matching is written here rather than borrowed from nats.c: nats.c
 * does not export its sublist matcher, and the rules are short (tokens split
 * by '.', `*` one token, `>` one or more trailing tokens). */
#include "acl.h"

#include "token.h"

#include <string.h>

#define NAME_FIELD "{name}"

/* Length of the token starting at s (up to '.' or the end). */
static size_t token_len(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot != NULL ? (size_t)(dot - s) : strlen(s);
}

static bool token_is(const char *tok, size_t len, char c)
{
    return len == 1 && tok[0] == c;
}

bool acl_subject_matches(const char *pattern, const char *subject)
{
    if (pattern == NULL || subject == NULL || *pattern == '\0' || *subject == '\0')
        return false;

    const char *p = pattern, *s = subject;
    for (;;) {
        size_t plen = token_len(p), slen = token_len(s);

        /* `>` takes this subject token and everything after it. */
        if (token_is(p, plen, '>') && p[plen] == '\0')
            return slen > 0 || s[slen] != '\0';
        if (!token_is(p, plen, '*') && (plen != slen || memcmp(p, s, plen) != 0))
            return false;

        bool p_end = p[plen] == '\0', s_end = s[slen] == '\0';
        if (p_end || s_end)
            return p_end && s_end;
        p += plen + 1;
        s += slen + 1;
    }
}

/* Whether the len bytes of a token are allowed: non-empty, no spaces or
 * control characters, wildcards only as a whole token. */
static bool token_valid(const char *tok, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
        if ((c == '*' || c == '>') && len != 1)
            return false;
    }
    return true;
}

bool acl_subject_valid(const char *pattern)
{
    if (pattern == NULL || *pattern == '\0')
        return false;
    const char *p = pattern;
    for (;;) {
        size_t len = token_len(p);
        if (!token_valid(p, len))
            return false;
        bool last = p[len] == '\0';
        if (token_is(p, len, '>') && !last)
            return false;
        if (last)
            return true;
        p += len + 1;
    }
}

/* Whether the rule asks for an attested identity (users or accounts). */
static bool needs_identity(const acl_rule *r)
{
    return r->users != NULL || r->accounts != NULL;
}

/* Whether rule r applies to a request on arrival from id. */
static bool applies(const acl_rule *r, const char *arrival, const vc_identity *id)
{
    if (!acl_subject_matches(r->subject, arrival))
        return false;
    return !needs_identity(r) ||
           identity_matches(id, r->users, r->nusers, r->accounts, r->naccounts);
}

unsigned acl_rights(const acl_rule *rules, size_t n, const char *arrival)
{
    unsigned ops = 0;
    for (size_t i = 0; i < n; i++) {
        if (!acl_subject_matches(rules[i].subject, arrival))
            continue;
        /* tokens: true: a token may bring any operation */
        ops |= rules[i].ops | (rules[i].tokens ? OP_ALL_BITS : 0u);
        if (!needs_identity(&rules[i]))
            break;
    }
    return ops;
}

/* Whether pattern a and pattern b can match a common subject (token-wise:
 * `*` matches any one token, `>` one or more). */
static bool patterns_overlap(const char *a, const char *b)
{
    for (;;) {
        size_t al = token_len(a), bl = token_len(b);
        if (token_is(a, al, '>') && a[al] == '\0')
            return true; /* b has at least this token left */
        if (token_is(b, bl, '>') && b[bl] == '\0')
            return true;
        if (!token_is(a, al, '*') && !token_is(b, bl, '*') && (al != bl || memcmp(a, b, al) != 0))
            return false;
        bool a_end = a[al] == '\0', b_end = b[bl] == '\0';
        if (a_end || b_end)
            return a_end && b_end;
        a += al + 1;
        b += bl + 1;
    }
}

bool acl_shadows_prefix(const char *later, const char *earlier)
{
    char buf[1024] = {0}; /* zeroed: the analyzer cannot follow token_len */
    size_t len = strlen(earlier);

    if (len >= sizeof buf)
        return false;
    /* Each proper token prefix "t1.t2...tk" of earlier. */
    for (size_t i = 0; i < len; i++) {
        if (earlier[i] != '.')
            continue;
        memcpy(buf, earlier, i);
        buf[i] = '\0';
        if (patterns_overlap(later, buf))
            return true;
    }
    return false;
}

static vc_code denied(vc_err *err)
{
    return vc_errf(err, VC_ACCESS_DENIED, "Access denied");
}

vc_code acl_check(const acl_rule *rules, size_t n, const acl_request *req, vc_err *err)
{
    if (req == NULL)
        return denied(err);
    /* The local CLI holds the master key: it could read the store anyway. */
    if (req->arrival == NULL)
        return VC_OK;
    /* Never trust an identity claimed in the payload. */
    if (req->claimed != NULL && strcmp(req->claimed, req->arrival) != 0)
        return denied(err);
    if (req->op < 0 || req->op >= OP_COUNT)
        return denied(err);

    for (size_t i = 0; i < n; i++) {
        if (!applies(&rules[i], req->arrival, req->id))
            continue;
        /* The first rule that applies decides; later rules are not
         * consulted, so a narrow rule placed first can restrict a broad
         * one. */
        if (!(rules[i].ops & OP_BIT(req->op)) ||
            (req->key != NULL && !acl_key_allowed_id(&rules[i], req->key, req->key_len, req->id)))
            return denied(err);
        if (req->op == OP_CREDS && rules[i].roles != NULL) {
            for (size_t r = 0; r < rules[i].nroles; r++)
                if (req->role != NULL && strcmp(rules[i].roles[r], req->role) == 0)
                    return VC_OK;
            return denied(err);
        }
        return VC_OK;
    }
    return denied(err);
}

const acl_rule *acl_first_match_id(const acl_rule *rules, size_t n, const char *arrival,
                                   const vc_identity *id)
{
    for (size_t i = 0; i < n; i++)
        if (applies(&rules[i], arrival, id))
            return &rules[i];
    return NULL;
}

const acl_rule *acl_first_match(const acl_rule *rules, size_t n, const char *arrival)
{
    return acl_first_match_id(rules, n, arrival, NULL);
}

/* Whether key matches pattern once every {name} in it is name (NULL: a
 * pattern with {name} matches nothing). */
static bool key_match_named(const char *pattern, const char *key, size_t len, const char *name)
{
    if (strstr(pattern, NAME_FIELD) == NULL)
        return token_pattern_match(pattern, key, len);
    if (name == NULL)
        return false;
    char buf[1024];
    size_t o = 0, nl = strlen(name), fl = strlen(NAME_FIELD);
    for (const char *p = pattern; *p != '\0';) {
        if (strncmp(p, NAME_FIELD, fl) == 0) {
            if (o + nl >= sizeof buf)
                return false;
            memcpy(buf + o, name, nl);
            o += nl;
            p += fl;
        } else {
            if (o + 1 >= sizeof buf)
                return false;
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    return token_pattern_match(buf, key, len);
}

bool acl_key_allowed_id(const acl_rule *rule, const char *key, size_t len, const vc_identity *id)
{
    if (rule == NULL || rule->keys == NULL)
        return true;
    const char *name = identity_name(id);
    for (size_t i = 0; i < rule->nkeys; i++)
        if (key_match_named(rule->keys[i], key, len, name))
            return true;
    return false;
}

bool acl_key_allowed(const acl_rule *rule, const char *key, size_t len)
{
    return acl_key_allowed_id(rule, key, len, NULL);
}
