/* identity.c - reading and matching the server-attested identity of a
 * request (see identity.h; checked against nats-server 2.9.10: a request
 * through a `share: true` import carries {"acc":"AGENTS","user":"agent-1",
 * ...} and a reply under "_R_.", a client's forged header is overwritten
 * there, and passes unchanged inside one account). */
#include "identity.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define REPLY_IMPORT_PREFIX "_R_."
#define NAME_MAX_LEN        64

/* Copies the string member name of o into out (cap IDENTITY_FIELD_MAX + 1);
 * false when it is missing, not a string, too long or holds a byte outside
 * printable ASCII (so it can go into a log or an audit event as it is). */
static bool copy_field(const json_t *o, const char *name, char *out, bool required)
{
    json_t *v = json_object_get(o, name);
    out[0] = '\0';
    if (v == NULL)
        return !required;
    if (!json_is_string(v))
        return false;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len > IDENTITY_FIELD_MAX || (required && len == 0))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

void identity_read(vc_identity *out, const char *header, const char *reply, const char *own_account)
{
    memset(out, 0, sizeof *out);
    if (header == NULL || reply == NULL ||
        strncmp(reply, REPLY_IMPORT_PREFIX, strlen(REPLY_IMPORT_PREFIX)) != 0)
        return;
    json_t *o = json_loads(header, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(o) && copy_field(o, "acc", out->account, true) &&
              copy_field(o, "user", out->user, true) &&
              copy_field(o, "name_tag", out->name_tag, false);
    json_decref(o);
    if (ok && own_account != NULL && own_account[0] != '\0' &&
        strcmp(out->account, own_account) == 0)
        ok = false; /* from inside the vault's own account */
    if (!ok) {
        memset(out, 0, sizeof *out);
        return;
    }
    out->attested = true;
}

static bool name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

const char *identity_name(const vc_identity *id)
{
    if (id == NULL || !id->attested)
        return NULL;
    const char *n = id->name_tag[0] != '\0' ? id->name_tag : id->user;
    return name_ok(n) ? n : NULL;
}

/* pattern: exact, or a prefix and one final '*'. */
static bool pattern_match(const char *pattern, const char *s)
{
    size_t pl = strlen(pattern);
    if (pl > 0 && pattern[pl - 1] == '*')
        return strncmp(pattern, s, pl - 1) == 0;
    return strcmp(pattern, s) == 0;
}

static bool any_match(char *const *list, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++)
        if ((a != NULL && a[0] != '\0' && pattern_match(list[i], a)) ||
            (b != NULL && b[0] != '\0' && pattern_match(list[i], b)))
            return true;
    return false;
}

bool identity_matches(const vc_identity *id, char *const *users, size_t nusers,
                      char *const *accounts, size_t naccounts)
{
    if (id == NULL || !id->attested)
        return false;
    if (nusers > 0 && !any_match(users, nusers, id->user, id->name_tag))
        return false;
    if (naccounts > 0 && !any_match(accounts, naccounts, id->account, NULL))
        return false;
    return true;
}

bool identity_pattern_valid(const char *p, size_t len)
{
    if (len == 0 || len > IDENTITY_FIELD_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
        if (c == '*' && i + 1 != len)
            return false;
    }
    return true;
}

void identity_audit_json(const vc_identity *id, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (id == NULL || !id->attested)
        return;
    /* The fields hold printable ASCII without '"' or '\\' (copy_field). */
    int w = snprintf(buf, cap, "\"identity\":{\"account\":\"%s\",\"user\":\"%s\"%s%s%s}",
                     id->account, id->user, id->name_tag[0] ? ",\"name_tag\":\"" : "", id->name_tag,
                     id->name_tag[0] ? "\"" : "");
    if (w < 0 || (size_t)w >= cap)
        buf[0] = '\0';
}
