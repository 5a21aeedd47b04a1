/* config_identity.c - the configuration of server-attested identity
 * (PROTOCOL.md §11): an ACL entry's users and accounts lists, and the check
 * of acl_identity once every source is in. acl_identity and
 * acl_identity_account are plain settings of the table in config.c.
 * Messages name the file and the line, like config_yaml.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_int.h"
#include "identity.h"

#define IDENTITY_LIST_MAX 256

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

vc_code config_load_acl_identity(config_loader *ld, yaml_document_t *doc, yaml_node_t *node,
                                 size_t idx, const char *what, acl_rule *rule)
{
    char q[CONFIG_QUOTE_BUF];
    bool users = strcmp(what, "users") == 0;
    char ***list = users ? &rule->users : &rule->accounts;
    size_t *count = users ? &rule->nusers : &rule->naccounts;

    if (node->type != YAML_SEQUENCE_NODE ||
        node->data.sequence.items.top == node->data.sequence.items.start)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: acl[%zu].%s: expected a list of %s (a final * allowed), such as "
                       "[%s]",
                       ld->file, line_of(node), idx, what,
                       users ? "user public keys or names" : "account public keys or names",
                       users ? "\"agent-*\"" : "\"AGENTS\"");
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n > IDENTITY_LIST_MAX)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: acl[%zu].%s: more than %d entries", ld->file,
                       line_of(node), idx, what, IDENTITY_LIST_MAX);
    if ((*list = calloc(n, sizeof **list)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *x = yaml_document_get_node(doc, node->data.sequence.items.start[i]);
        const char *t = x->type == YAML_SCALAR_NODE ? (const char *)x->data.scalar.value : "";
        size_t len = x->type == YAML_SCALAR_NODE ? x->data.scalar.length : 0;
        if (x->type != YAML_SCALAR_NODE || memchr(t, '\0', len) != NULL ||
            !identity_pattern_valid(t, len))
            return vc_errf(ld->err, VC_CONFIG,
                           "%s:%d: acl[%zu].%s[%zu]: expected 1-%d printable characters with "
                           "at most one final *, got %s",
                           ld->file, line_of(x), idx, what, i, IDENTITY_FIELD_MAX,
                           x->type == YAML_SCALAR_NODE ? config_quote(q, sizeof q, t, len)
                                                       : "a structure");
        if (((*list)[i] = strndup(t, len)) == NULL)
            return config_oom(ld->err);
        *count = i + 1;
    }
    return VC_OK;
}

vc_code config_identity_check(config_loader *ld)
{
    config *c = ld->c;
    const char *mode = c->acl_identity_mode;
    c->identity_request_info = false;
    if (mode != NULL && strcmp(mode, "request_info") == 0)
        c->identity_request_info = true;
    else if (mode != NULL && strcmp(mode, "none") != 0)
        return vc_errf(ld->err, VC_CONFIG, "%s: acl_identity: expected none or request_info",
                       ld->file);
    for (size_t i = 0; i < c->acl_count && !c->identity_request_info; i++)
        if (c->acl[i].users != NULL || c->acl[i].accounts != NULL)
            return vc_errf(ld->err, VC_CONFIG,
                           "%s: acl[%zu]: users and accounts need acl_identity: request_info "
                           "(without it no request would ever match this entry)",
                           ld->file, i);
    return VC_OK;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

void config_identity_free(config *c)
{
    for (size_t i = 0; i < c->acl_count; i++) {
        free_list(c->acl[i].users, c->acl[i].nusers);
        free_list(c->acl[i].accounts, c->acl[i].naccounts);
    }
}
