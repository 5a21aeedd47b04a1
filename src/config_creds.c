/* config_creds.c - the nats_credentials section's structured parts
 * (PROTOCOL.md §9, §10): the roles mapping, an ACL rule's roles list, and
 * the checks once every source is in. account and signing_key are plain
 * settings of the table in config.c. Messages name the file and the line,
 * like config_yaml.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_int.h"
#include "creds.h"
#include "duration.h"
#include "nkey.h"

#define ROLE_TTL_DEFAULT     ((int64_t)15 * 60)
#define ROLE_MAX_TTL_DEFAULT 3600
#define ROLE_TTL_MAX         ((int64_t)3650 * 86400)
#define ROLE_SUBJECTS_MAX    64

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static bool null_node(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A role name: what creds_name_valid accepts (it appears in audit events). */
static bool role_name_ok(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && creds_name_valid(scalar(k), k->data.scalar.length);
}

/* A role subject: a valid NATS subject once {name} is filled in. */
static bool role_subject_ok(const char *s)
{
    char buf[1024];
    size_t o = 0;
    for (const char *p = s; *p != '\0' && o + 2 < sizeof buf;) {
        if (strncmp(p, "{name}", 6) == 0) {
            buf[o++] = 'x';
            p += 6;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    return strlen(s) < sizeof buf / 2 && acl_subject_valid(buf);
}

/* A list of strings (or one alone) into *out and *n; subjects checks each as a
 * role subject. what names it in messages. */
static vc_code load_list(config_loader *ld, yaml_document_t *doc, yaml_node_t *node,
                         const char *what, bool subjects, char ***out, size_t *n)
{
    char q[CONFIG_QUOTE_BUF];
    yaml_node_t *one[1];
    yaml_node_t **items = NULL;
    size_t count = 0;

    if (null_node(node))
        return VC_OK;
    if (node->type == YAML_SCALAR_NODE) {
        one[0] = node;
        items = one;
        count = 1;
    } else if (node->type != YAML_SEQUENCE_NODE) {
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected a list of %s", ld->file,
                       line_of(node), what, subjects ? "NATS subjects" : "role names");
    } else {
        count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    }
    if (count > ROLE_SUBJECTS_MAX)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: more than %d entries", ld->file,
                       line_of(node), what, ROLE_SUBJECTS_MAX);
    if ((*out = calloc(count + 1, sizeof **out)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = items != NULL
                              ? items[i]
                              : yaml_document_get_node(doc, node->data.sequence.items.start[i]);
        if (it->type != YAML_SCALAR_NODE || null_node(it))
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s[%zu]: expected a %s", ld->file,
                           line_of(it), what, i, subjects ? "NATS subject" : "role name");
        const char *t = scalar(it);
        size_t len = it->data.scalar.length;
        if (memchr(t, '\0', len) != NULL ||
            (subjects ? !role_subject_ok(t) : !(role_name_ok(it) || strcmp(t, "*") == 0)))
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s[%zu]: not a valid %s: %s", ld->file,
                           line_of(it), what, i,
                           subjects ? "NATS subject ({name} allowed)" : "role name",
                           config_quote(q, sizeof q, t, len));
        if (((*out)[i] = strndup(t, len)) == NULL)
            return config_oom(ld->err);
        *n = i + 1;
    }
    return VC_OK;
}

static vc_code load_ttl(config_loader *ld, yaml_node_t *v, const char *what, int64_t *out)
{
    char q[CONFIG_QUOTE_BUF];
    uint64_t secs = 0;
    if (v->type != YAML_SCALAR_NODE || !duration_parse(scalar(v), v->data.scalar.length, &secs) ||
        (*out = (int64_t)secs) <= 0 || *out > ROLE_TTL_MAX)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: expected a duration such as 15m, 1h, 90s (at most 3650d), "
                       "got %s",
                       ld->file, line_of(v), what,
                       v->type == YAML_SCALAR_NODE
                           ? config_quote(q, sizeof q, scalar(v), v->data.scalar.length)
                           : "a structure");
    return VC_OK;
}

static vc_code load_role(config_loader *ld, yaml_document_t *doc, yaml_node_t *k, yaml_node_t *v,
                         config_creds_role *r)
{
    char what[CONFIG_NAME_MAX + 32], q[CONFIG_QUOTE_BUF];
    bool have_ttl = false, have_max = false;
    vc_code rc;

    if (!role_name_ok(k))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: nats_credentials.roles: role name %s: expected 1-64 of "
                       "A-Z a-z 0-9 _ -",
                       ld->file, line_of(k),
                       k->type == YAML_SCALAR_NODE
                           ? config_quote(q, sizeof q, scalar(k), k->data.scalar.length)
                           : "(not a name)");
    if ((r->name = strndup(scalar(k), k->data.scalar.length)) == NULL)
        return config_oom(ld->err);
    r->ttl_s = ROLE_TTL_DEFAULT;
    r->max_ttl_s = ROLE_MAX_TTL_DEFAULT;
    if (v->type != YAML_MAPPING_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: nats_credentials.roles.%s: expected a mapping with publish, "
                       "subscribe, ttl, max_ttl",
                       ld->file, line_of(v), r->name);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *pk = yaml_document_get_node(doc, p->key);
        yaml_node_t *pv = yaml_document_get_node(doc, p->value);
        const char *key = pk->type == YAML_SCALAR_NODE ? scalar(pk) : "";
        int w = snprintf(what, sizeof what, "nats_credentials.roles.%s.%s", r->name, key);
        (void)w; /* a cut name only shortens the message */
        for (yaml_node_pair_t *e = v->data.mapping.pairs.start; e < p; e++) {
            yaml_node_t *ek = yaml_document_get_node(doc, e->key);
            if (ek->type == YAML_SCALAR_NODE && strcmp(scalar(ek), key) == 0)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: duplicate key (first at line %d)",
                               ld->file, line_of(pk), what, line_of(ek));
        }
        if (strcmp(key, "publish") == 0)
            rc = load_list(ld, doc, pv, what, true, &r->publish, &r->npublish);
        else if (strcmp(key, "subscribe") == 0)
            rc = load_list(ld, doc, pv, what, true, &r->subscribe, &r->nsubscribe);
        else if (strcmp(key, "ttl") == 0 && (have_ttl = true))
            rc = load_ttl(ld, pv, what, &r->ttl_s);
        else if (strcmp(key, "max_ttl") == 0 && (have_max = true))
            rc = load_ttl(ld, pv, what, &r->max_ttl_s);
        else
            return vc_errf(ld->err, VC_CONFIG,
                           "%s:%d: %s: unknown setting (a role has: publish, subscribe, ttl, "
                           "max_ttl)",
                           ld->file, line_of(pk), what);
        if (rc != VC_OK)
            return rc;
    }
    if (have_ttl && !have_max && r->ttl_s > r->max_ttl_s)
        r->max_ttl_s = r->ttl_s;
    if (!have_ttl && r->ttl_s > r->max_ttl_s)
        r->ttl_s = r->max_ttl_s;
    if (r->ttl_s > r->max_ttl_s)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: nats_credentials.roles.%s: ttl (%llds) is longer than max_ttl "
                       "(%llds)",
                       ld->file, line_of(v), r->name, (long long)r->ttl_s, (long long)r->max_ttl_s);
    return VC_OK;
}

vc_code config_load_creds_roles(config_loader *ld, yaml_document_t *doc, yaml_node_t *node)
{
    config *c = ld->c;
    if (null_node(node))
        return VC_OK;
    if (node->type != YAML_MAPPING_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: nats_credentials.roles: expected a mapping of role names to "
                       "{publish, subscribe, ttl, max_ttl}",
                       ld->file, line_of(node));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n == 0)
        return VC_OK;
    if ((c->creds_roles = calloc(n, sizeof *c->creds_roles)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        c->creds_nroles = i + 1; /* so config_free frees a half-built role */
        vc_code rc =
            load_role(ld, doc, k, yaml_document_get_node(doc, p->value), &c->creds_roles[i]);
        if (rc != VC_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (c->creds_roles[j].name != NULL && c->creds_roles[i].name != NULL &&
                strcmp(c->creds_roles[j].name, c->creds_roles[i].name) == 0)
                return vc_errf(ld->err, VC_CONFIG,
                               "%s:%d: nats_credentials.roles.%s: duplicate role", ld->file,
                               line_of(k), c->creds_roles[i].name);
    }
    return VC_OK;
}

vc_code config_load_acl_roles(config_loader *ld, yaml_document_t *doc, yaml_node_t *node,
                              size_t idx, acl_rule *rule)
{
    char what[48];
    int w = snprintf(what, sizeof what, "acl[%zu].roles", idx);
    (void)w; /* fits */
    if (rule->roles != NULL)
        return VC_OK; /* a duplicate key is refused by the caller */
    char **roles = NULL;
    size_t n = 0;
    vc_code rc = load_list(ld, doc, node, what, false, &roles, &n);
    if (rc != VC_OK || roles == NULL) {
        for (size_t i = 0; roles != NULL && i < n; i++)
            free(roles[i]);
        free(roles);
        if (rc == VC_OK) { /* roles: null or []: no role at all */
            if ((rule->roles = calloc(1, sizeof *rule->roles)) == NULL)
                return config_oom(ld->err);
            rule->nroles = 0;
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(roles[i], "*") == 0) { /* every role: the default */
            for (size_t j = 0; j < n; j++)
                free(roles[j]);
            free(roles);
            return VC_OK;
        }
    }
    rule->roles = roles;
    rule->nroles = n;
    /* Which of them exist is checked once the roles are in (config_creds_check):
     * the acl may come before nats_credentials in the file. */
    (void)line_of(node);
    return VC_OK;
}

vc_code config_creds_check(config_loader *ld)
{
    config *c = ld->c;
    const char *file = ld->file;
    if (c->creds_account != NULL && !nkey_public_valid(c->creds_account, NKEY_ACCOUNT))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: nats_credentials.account: not an account public key (56 "
                       "characters, A...)",
                       file);
    if (c->creds_account != NULL && c->creds_signing_key == NULL)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: nats_credentials.account: set without nats_credentials.signing_key",
                       file);
    if (c->creds_account == NULL && (c->creds_signing_key != NULL || c->creds_nroles > 0))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: nats_credentials: signing_key and roles need "
                       "nats_credentials.account",
                       file);
    int revoke_set = (c->creds_operator_key != NULL) + (c->creds_system_creds != NULL) +
                     (c->creds_account_jwt != NULL);
    if (revoke_set != 0 && revoke_set != 3)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: nats_credentials: revocation needs all three of "
                       "operator_signing_key, account_jwt and system_creds",
                       file);
    if (revoke_set != 0 && c->creds_account == NULL)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s: nats_credentials: operator_signing_key, account_jwt and "
                       "system_creds need nats_credentials.account",
                       file);
    for (size_t i = 0; i < c->acl_count; i++) {
        for (size_t r = 0; r < c->acl[i].nroles; r++) {
            bool found = false;
            for (size_t j = 0; j < c->creds_nroles && !found; j++)
                found = strcmp(c->creds_roles[j].name, c->acl[i].roles[r]) == 0;
            if (!found)
                return vc_errf(ld->err, VC_CONFIG,
                               "%s: acl[%zu].roles: no role %s in nats_credentials.roles", file, i,
                               c->acl[i].roles[r]);
        }
    }
    return VC_OK;
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

void config_creds_free(config *c)
{
    for (size_t i = 0; i < c->creds_nroles; i++) {
        free(c->creds_roles[i].name);
        free_strings(c->creds_roles[i].publish, c->creds_roles[i].npublish);
        free_strings(c->creds_roles[i].subscribe, c->creds_roles[i].nsubscribe);
    }
    free(c->creds_roles);
    for (size_t i = 0; i < c->acl_count; i++)
        free_strings(c->acl[i].roles, c->acl[i].nroles);
}
