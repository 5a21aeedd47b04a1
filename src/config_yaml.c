/* config_yaml.c - reading the configuration file and walking its YAML:
 * every key is looked up in the settings table (config.c) and its value
 * handed to config_apply; the ACL is the one structured setting and has its
 * own small walker here. Messages name the file, the line and the setting.
 *
 * The file is read with libyaml's document API. libyaml's copies of the
 * text (its buffers and the document's scalars) may hold a password and are
 * wiped before they are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <yaml.h>

#include "config_int.h"
#include "token.h"

/* A "configuration" bigger than this is the wrong file. */
#define CONFIG_FILE_MAX ((size_t)1024 * 1024)

static const char *node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "mapping";
    case YAML_SEQUENCE_NODE:
        return "list";
    case YAML_SCALAR_NODE:
        return "single value";
    case YAML_NO_NODE:
        break;
    }
    return "nothing";
}

static int node_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/* A plain `~`, `null` or nothing: YAML's null (the document API does no
 * tag resolution, so we do this one ourselves). */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool scalar_is(const yaml_node_t *node, const char *s)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.length == strlen(s) &&
           memcmp(node->data.scalar.value, s, node->data.scalar.length) == 0;
}

/* Whether name is a section or subsection (a prefix of settings). */
static bool is_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++)
        if (strncmp(config_settings[i].name, name, n) == 0 && config_settings[i].name[n] == '.')
            return true;
    return false;
}

static vc_code load_mapping(config_loader *ld, yaml_document_t *doc, yaml_node_t *map,
                            const char *prefix);

/* Error if the key at pair duplicates an earlier key of the same mapping. */
static vc_code check_duplicate(config_loader *ld, yaml_document_t *doc, yaml_node_t *map,
                               yaml_node_pair_t *pair, const char *name)
{
    yaml_node_t *key = yaml_document_get_node(doc, pair->key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            k->data.scalar.length == key->data.scalar.length &&
            memcmp(k->data.scalar.value, key->data.scalar.value, k->data.scalar.length) == 0)
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: duplicate key (first at line %d)",
                           ld->file, node_line(key), name, node_line(k));
    }
    return VC_OK;
}

/* The full dotted name of key under prefix, user text made printable.
 * Returns false if the key cannot be a setting name (then buf still holds
 * a printable form for the message). */
static bool key_name(char *buf, size_t n, const char *prefix, const yaml_node_t *key)
{
    const char *k = (const char *)key->data.scalar.value;
    size_t len = key->data.scalar.length;
    bool plain = len > 0 && len < CONFIG_NAME_MAX / 2;
    int w;
    for (size_t i = 0; plain && i < len; i++)
        plain = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
                (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-';
    if (plain) {
        w = snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "", k);
    } else {
        char q[CONFIG_QUOTE_BUF];
        w = snprintf(buf, n, "%s%s%s", prefix, prefix[0] ? "." : "",
                     config_quote(q, sizeof q, k, len));
    }
    return plain && w >= 0 && (size_t)w < n;
}

/* The key of pair p of mapping map: its dotted name under prefix into name
 * (n bytes), *plain as key_name says; an error for a key that is not a
 * single value or repeats an earlier one. what names map in messages. */
static vc_code pair_key(config_loader *ld, yaml_document_t *doc, yaml_node_t *map,
                        yaml_node_pair_t *p, const char *prefix, const char *what, char *name,
                        size_t n, bool *plain)
{
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    if (k->type != YAML_SCALAR_NODE)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: keys must be plain names", ld->file,
                       node_line(k), what);
    *plain = key_name(name, n, prefix, k);
    return check_duplicate(ld, doc, map, p, name);
}

/* "url, user, pass, ..." : the keys a mapping at prefix accepts. */
static void known_keys(char *buf, size_t n, const char *prefix)
{
    size_t plen = strlen(prefix), o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CONFIG_N_SETTINGS; i++) {
        const char *name = config_settings[i].name;
        if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
            continue;
        const char *key = name + plen + 1;
        size_t klen = strcspn(key, ".");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(config_settings[j].name, name, plen + 1 + klen) == 0 &&
                   (config_settings[j].name[plen + 1 + klen] == '\0' ||
                    config_settings[j].name[plen + 1 + klen] == '.');
        if (seen)
            continue;
        int w = snprintf(buf + o, n - o, "%s%.*s", o ? ", " : "", (int)klen, key);
        if (w < 0 || (size_t)w >= n - o)
            return; /* a cut list is still a useful hint */
        o += (size_t)w;
    }
}

static void section_list(char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CONFIG_N_SECTIONS; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "", config_sections[i]);
        if (w < 0 || (size_t)w >= n - o)
            return;
        o += (size_t)w;
    }
}

/* A K_PREFIXES setting given as a YAML sequence: its items joined with
 * commas, then checked as the comma-separated form. */
static vc_code load_prefix_list(config_loader *ld, size_t i, yaml_document_t *doc, yaml_node_t *seq,
                                const char *where)
{
    char joined[1024];
    size_t o = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (item == NULL || item->type != YAML_SCALAR_NODE)
            return vc_errf(ld->err, VC_CONFIG, "%s: expected a list of subject prefixes", where);
        size_t n = item->data.scalar.length;
        if (o + n + 2 > sizeof joined)
            return vc_errf(ld->err, VC_CONFIG, "%s: too long a list", where);
        if (o > 0)
            joined[o++] = ',';
        memcpy(joined + o, item->data.scalar.value, n);
        o += n;
    }
    vc_code rc = config_apply(ld, i, joined, o, where);
    if (rc == VC_OK)
        config_set_origin(ld, i, node_line(seq), NULL);
    return rc;
}

/* A key of the table: its value through config_apply. */
static vc_code load_scalar_setting(config_loader *ld, size_t i, yaml_document_t *doc,
                                   yaml_node_t *value)
{
    char where[CONFIG_WHERE_MAX];
    int w = snprintf(where, sizeof where, "%s:%d: %s", ld->file, node_line(value),
                     config_settings[i].name);
    (void)w; /* a cut prefix (very long file name) only shortens it */
    if (value->type == YAML_SEQUENCE_NODE && config_settings[i].kind == K_PREFIXES)
        return load_prefix_list(ld, i, doc, value, where);
    if (value->type != YAML_SCALAR_NODE) {
        char ex[128];
        return vc_errf(ld->err, VC_CONFIG, "%s: expected %s, got a %s", where,
                       config_expectation(&config_settings[i], ex, sizeof ex), node_kind(value));
    }
    const char *text = is_null(value) ? "" : (const char *)value->data.scalar.value;
    size_t len = is_null(value) ? 0 : value->data.scalar.length;
    vc_code rc = config_apply(ld, i, text, len, where);
    if (rc == VC_OK)
        config_set_origin(ld, i, node_line(value), NULL);
    return rc;
}

/* Adds the operation named by scalar node op ("*" and "all": every one)
 * to *ops; name is the setting for messages. */
static vc_code add_op(config_loader *ld, const yaml_node_t *op, const char *name, unsigned *ops)
{
    char q[CONFIG_QUOTE_BUF];
    if (op->type != YAML_SCALAR_NODE)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected an operation name, got a %s",
                       ld->file, node_line(op), name, node_kind(op));
    const char *t = (const char *)op->data.scalar.value;
    size_t len = op->data.scalar.length;
    vc_op o = op_from_name(t, len);
    if (scalar_is(op, "*") || scalar_is(op, "all"))
        *ops |= OP_ALL_BITS;
    else if (o != OP_NONE)
        *ops |= OP_BIT(o);
    else
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: unknown operation %s (expected get, set, "
                       "delete, list, rotate, status, versions, creds, issue, lookup, renew, "
                       "revoke, unwrap, or \"*\" / all)",
                       ld->file, node_line(op), name, config_quote(q, sizeof q, t, len));
    return VC_OK;
}

/* The operations of ACL rule idx: a list of names, or one name alone. */
static vc_code load_ops(config_loader *ld, yaml_document_t *doc, yaml_node_t *node, size_t idx,
                        unsigned *ops)
{
    char name[64];
    int w;

    *ops = 0;
    if (node->type == YAML_MAPPING_NODE || is_null(node))
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: acl[%zu].operations: expected a list of "
                       "operations such as [get, set] ([] for none), got %s%s",
                       ld->file, node_line(node), idx, is_null(node) ? "" : "a ",
                       is_null(node) ? "nothing" : node_kind(node));
    if (node->type == YAML_SCALAR_NODE) {
        w = snprintf(name, sizeof name, "acl[%zu].operations", idx);
        (void)w; /* fits: one integer and a fixed text */
        return add_op(ld, node, name, ops);
    }
    yaml_node_item_t *first = node->data.sequence.items.start;
    for (yaml_node_item_t *it = first; it < node->data.sequence.items.top; it++) {
        w = snprintf(name, sizeof name, "acl[%zu].operations[%zu]", idx, (size_t)(it - first));
        (void)w; /* fits: two integers and a fixed text */
        vc_code rc = add_op(ld, yaml_document_get_node(doc, *it), name, ops);
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

/* keys: a list of key patterns (token.h), at least one. */
static vc_code load_keys(config_loader *ld, yaml_document_t *doc, yaml_node_t *node,
                         const char *name, acl_rule *rule)
{
    if (node->type != YAML_SEQUENCE_NODE ||
        node->data.sequence.items.top == node->data.sequence.items.start)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: expected a list of key patterns such as [\"billing/*\"]",
                       ld->file, node_line(node), name);
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if ((rule->keys = calloc(n, sizeof *rule->keys)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *x = yaml_document_get_node(doc, node->data.sequence.items.start[i]);
        if (x->type != YAML_SCALAR_NODE ||
            !token_pattern_valid((const char *)x->data.scalar.value, x->data.scalar.length) ||
            memchr(x->data.scalar.value, '\0', x->data.scalar.length) != NULL)
            return vc_errf(ld->err, VC_CONFIG,
                           "%s:%d: %s[%zu]: expected a key or a prefix followed by one final *",
                           ld->file, node_line(x), name, i);
        rule->keys[i] = strndup((const char *)x->data.scalar.value, x->data.scalar.length);
        rule->nkeys = i + 1;
        if (rule->keys[i] == NULL)
            return config_oom(ld->err);
    }
    return VC_OK;
}

static vc_code load_rule(config_loader *ld, yaml_document_t *doc, yaml_node_t *node, size_t idx,
                         acl_rule *rule)
{
    char q[CONFIG_QUOTE_BUF], name[CONFIG_NAME_MAX], prefix[32];
    bool have_subject = false, have_ops = false;
    int w = snprintf(prefix, sizeof prefix, "acl[%zu]", idx);
    (void)w; /* fits: one integer and a fixed text */

    if (node->type != YAML_MAPPING_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: %s: expected a mapping with subject and "
                       "operations, got a %s",
                       ld->file, node_line(node), prefix, node_kind(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        bool plain = false;
        vc_code rc = pair_key(ld, doc, node, p, prefix, prefix, name, sizeof name, &plain);
        if (rc != VC_OK)
            return rc;
        if (plain && scalar_is(k, "subject")) {
            if (v->type != YAML_SCALAR_NODE)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected a NATS subject, got a %s",
                               ld->file, node_line(v), name, node_kind(v));
            const char *t = (const char *)v->data.scalar.value;
            size_t len = v->data.scalar.length;
            if (is_null(v) || len == 0)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: must not be empty", ld->file,
                               node_line(v), name);
            if (memchr(t, '\0', len) != NULL || !acl_subject_valid(t))
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: not a valid NATS subject: %s",
                               ld->file, node_line(v), name, config_quote(q, sizeof q, t, len));
            /* A pattern that covers reply inboxes or the service API would
             * make vaultctl answer other clients' replies and $SRV pings. */
            if (acl_subject_matches(t, "_INBOX.x.y") || acl_subject_matches(t, "$SRV.PING"))
                return vc_errf(ld->err, VC_CONFIG,
                               "%s:%d: %s: %s also covers _INBOX.> or $SRV.>; "
                               "use a narrower subject",
                               ld->file, node_line(v), name, config_quote(q, sizeof q, t, len));
            /* (an earlier entry that names users or accounts applies to
             * some requests only: the same subject may follow it) */
            for (size_t j = 0; j < idx; j++)
                if (strcmp(ld->c->acl[j].subject, t) == 0 && ld->c->acl[j].users == NULL &&
                    ld->c->acl[j].accounts == NULL)
                    return vc_errf(ld->err, VC_CONFIG,
                                   "%s:%d: %s: acl[%zu] already has subject "
                                   "%s, and only the first matching rule "
                                   "applies",
                                   ld->file, node_line(v), name, j,
                                   config_quote(q, sizeof q, t, len));
            if ((rule->subject = strndup(t, len)) == NULL)
                return config_oom(ld->err);
            have_subject = true;
        } else if (plain && scalar_is(k, "operations")) {
            if ((rc = load_ops(ld, doc, v, idx, &rule->ops)) != VC_OK)
                return rc;
            have_ops = true;
        } else if (plain && scalar_is(k, "roles")) {
            if ((rc = config_load_acl_roles(ld, doc, v, idx, rule)) != VC_OK)
                return rc;
        } else if (plain && scalar_is(k, "tokens")) {
            if (v->type != YAML_SCALAR_NODE || (!scalar_is(v, "true") && !scalar_is(v, "false")))
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected true or false", ld->file,
                               node_line(v), name);
            rule->tokens = scalar_is(v, "true");
        } else if (plain && scalar_is(k, "keys")) {
            if ((rc = load_keys(ld, doc, v, name, rule)) != VC_OK)
                return rc;
        } else if (plain && (scalar_is(k, "users") || scalar_is(k, "accounts"))) {
            rc = config_load_acl_identity(ld, doc, v, idx,
                                          scalar_is(k, "users") ? "users" : "accounts", rule);
            if (rc != VC_OK)
                return rc;
        } else {
            return vc_errf(ld->err, VC_CONFIG,
                           "%s:%d: %s: unknown setting (a rule has: subject, "
                           "operations, tokens, keys, roles, users, accounts)",
                           ld->file, node_line(k), name);
        }
    }
    if (!have_subject || !have_ops)
        return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: missing %s", ld->file, node_line(node),
                       prefix, have_subject ? "operations" : "subject");
    return VC_OK;
}

static vc_code load_acl(config_loader *ld, yaml_document_t *doc, yaml_node_t *node)
{
    config *c = ld->c;
    if (is_null(node))
        return VC_OK; /* no rules: everything is denied */
    if (node->type != YAML_SEQUENCE_NODE)
        return vc_errf(ld->err, VC_CONFIG,
                       "%s:%d: acl: expected a list of rules (- subject: ..., "
                       "operations: [...]), got a %s",
                       ld->file, node_line(node), node_kind(node));
    yaml_node_item_t *first = node->data.sequence.items.start;
    size_t n = (size_t)(node->data.sequence.items.top - first);
    if (n == 0)
        return VC_OK;
    if ((c->acl = calloc(n, sizeof *c->acl)) == NULL)
        return config_oom(ld->err);
    for (size_t i = 0; i < n; i++) {
        c->acl_count = i + 1; /* so config_free frees a half-built rule */
        vc_code rc = load_rule(ld, doc, yaml_document_get_node(doc, first[i]), i, &c->acl[i]);
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

static vc_code load_mapping(config_loader *ld, yaml_document_t *doc, yaml_node_t *map,
                            const char *prefix)
{
    char name[CONFIG_NAME_MAX], list[256];

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        bool plain = false;
        vc_code rc = pair_key(ld, doc, map, p, prefix, prefix[0] ? prefix : "(top level)", name,
                              sizeof name, &plain);
        if (rc != VC_OK)
            return rc;
        int i = plain ? config_find_setting(name) : -1;
        if (i >= 0) {
            rc = load_scalar_setting(ld, (size_t)i, doc, v);
        } else if (plain && strcmp(name, "acl") == 0) {
            rc = load_acl(ld, doc, v);
        } else if (plain && strcmp(name, "nats_credentials.roles") == 0) {
            rc = config_load_creds_roles(ld, doc, v);
        } else if (plain && is_section(name)) {
            if (is_null(v))
                continue; /* an empty section: its defaults */
            if (v->type != YAML_MAPPING_NODE)
                return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: expected a mapping, got a %s",
                               ld->file, node_line(v), name, node_kind(v));
            rc = load_mapping(ld, doc, v, name);
        } else if (prefix[0] == '\0') {
            section_list(list, sizeof list);
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: unknown section (expected one of: %s)",
                           ld->file, node_line(k), name, list);
        } else {
            known_keys(list, sizeof list, prefix);
            return vc_errf(ld->err, VC_CONFIG, "%s:%d: %s: unknown setting (%s has: %s)", ld->file,
                           node_line(k), name, prefix, list);
        }
        if (rc != VC_OK)
            return rc;
    }
    return VC_OK;
}

/* libyaml's error as "FILE:LINE: YAML syntax error ...". */
static vc_code yaml_error(const config_loader *ld, const yaml_parser_t *p)
{
    size_t line, col;
    if (p->error == YAML_MEMORY_ERROR)
        return config_oom(ld->err);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->text_len; i++) {
            col++;
            if (ld->text[i] == '\n') {
                line++;
                col = 1;
            }
        }
        return vc_errf(ld->err, VC_CONFIG, "%s:%zu: YAML syntax error: %s (column %zu)", ld->file,
                       line, p->problem ? p->problem : "unreadable text", col);
    }
    line = p->problem_mark.line + 1;
    col = p->problem_mark.column + 1;
    if (p->context != NULL)
        return vc_errf(ld->err, VC_CONFIG, "%s:%zu: YAML syntax error %s: %s (column %zu)",
                       ld->file, line, p->context, p->problem ? p->problem : "invalid YAML", col);
    return vc_errf(ld->err, VC_CONFIG,
                   "%s:%zu: YAML syntax error: %s "
                   "(column %zu)",
                   ld->file, line, p->problem ? p->problem : "invalid YAML", col);
}

/* Wipes libyaml's copies of the text: it may hold a password. */
static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n != NULL && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value != NULL)
            sodium_memzero(n->data.scalar.value, n->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p)
{
    if (p->buffer.start != NULL)
        sodium_memzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    if (p->raw_buffer.start != NULL)
        sodium_memzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

vc_code config_load_yaml(config_loader *ld)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_doc = false, have_extra = false;
    vc_code rc;

    if (!yaml_parser_initialize(&parser))
        return config_oom(ld->err);
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->text_len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_error(ld, &parser);
        goto done;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || is_null(root)) {
        rc = vc_errf(ld->err, VC_CONFIG,
                     "%s:%d: no settings (the file is "
                     "empty)",
                     ld->file, root ? node_line(root) : 1);
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char list[256];
        section_list(list, sizeof list);
        rc = vc_errf(ld->err, VC_CONFIG, "%s:%d: expected a mapping of sections (%s), got a %s",
                     ld->file, node_line(root), list, node_kind(root));
        goto done;
    }
    /* One document only: a second one would be silently ignored. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = yaml_error(ld, &parser);
        goto done;
    }
    have_extra = true;
    yaml_node_t *more = yaml_document_get_root_node(&extra);
    if (more != NULL) {
        rc = vc_errf(ld->err, VC_CONFIG,
                     "%s:%d: a second YAML document; the "
                     "configuration is one document",
                     ld->file, node_line(more));
        goto done;
    }
    rc = load_mapping(ld, &doc, root, "");
done:
    if (have_extra) {
        wipe_document(&extra);
        yaml_document_delete(&extra);
    }
    if (have_doc) {
        wipe_document(&doc);
        yaml_document_delete(&doc);
    }
    wipe_parser(&parser);
    yaml_parser_delete(&parser);
    return rc;
}

vc_code config_read_file(const char *path, char **out, size_t *len, vc_err *err)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vc_errf(err, VC_CONFIG, "%s: cannot read: %s", path, strerror(errno));
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nbuf;
            if (cap >= CONFIG_FILE_MAX) {
                close(fd);
                sodium_memzero(buf, n);
                free(buf);
                return vc_errf(err, VC_CONFIG,
                               "%s: cannot read: larger "
                               "than 1 MiB, not a configuration",
                               path);
            }
            /* Grow by copy, so the old buffer can be wiped. */
            if ((nbuf = malloc(ncap)) == NULL) {
                close(fd);
                sodium_memzero(buf, n);
                free(buf);
                return config_oom(err);
            }
            if (n > 0)
                memcpy(nbuf, buf, n);
            if (buf != NULL)
                sodium_memzero(buf, n);
            free(buf);
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            sodium_memzero(buf, n);
            free(buf);
            return vc_errf(err, VC_CONFIG, "%s: cannot read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return VC_OK;
}
