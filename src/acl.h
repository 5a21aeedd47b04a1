/* acl.h - the one place where access is decided (docs/protocol.md, "Access
 * control").
 *
 * The identity of a request is the subject it arrived on (NATS publish
 * permissions decide who may publish there). First rule whose subject
 * pattern matches the arrival subject decides; no match: denied. A claimed
 * `subject` in the payload that differs from the arrival subject: denied.
 * With acl_identity: request_info an entry may also name users and
 * accounts (PROTOCOL.md §11, identity.h): it then applies only to requests
 * whose server-attested identity matches, and `{name}` in its keys stands
 * for the requester's name. A rule "applies" to a request when its subject
 * matches and, if it names users or accounts, the identity matches too;
 * the first rule that applies decides.
 */
#ifndef VAULTCTL_ACL_H
#define VAULTCTL_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "identity.h"
#include "operation.h"

typedef struct {
    const char *subject; /* NATS subject, may hold `*` and `>` wildcards */
    unsigned ops;        /* OP_BIT() mask of allowed operations */
    /* The NATS credential roles creds may mint through this rule
     * (PROTOCOL.md §9); roles NULL: every role. */
    char **roles;
    size_t nroles;
    bool tokens; /* tokens: true: requests may carry a token */
    char **keys; /* keys: patterns (token.h) the entry's own operations
                    reach; NULL: all ("*") */
    size_t nkeys;
    /* users: / accounts: (PROTOCOL.md §11); NULL: any (the entry then does
     * not ask for an identity). Patterns: exact, or one final `*`. */
    char **users;
    size_t nusers;
    char **accounts;
    size_t naccounts;
} acl_rule;

typedef struct {
    const char *arrival; /* subject the message arrived on; NULL: local CLI
                            (the operator holds the master key: all rights) */
    const char *claimed; /* payload `subject` field, NULL if absent */
    vc_op op;
    const char *role; /* creds: the role asked for */
    const char *key;  /* the request's key, checked against the rule's keys;
                         NULL: none */
    size_t key_len;
    const vc_identity *id; /* the attested identity; NULL: none */
} acl_request;

/* Whether NATS subject pattern (tokens split by '.', `*` matches one token,
 * `>` as the last token matches one or more) matches the literal subject. */
bool acl_subject_matches(const char *pattern, const char *subject);

/* Whether pattern is a valid NATS subject (non-empty tokens, `>` only last,
 * wildcards only as whole tokens, no spaces or control characters). */
bool acl_subject_valid(const char *pattern);

/* The operations (OP_BIT mask) the rules matching the literal subject
 * arrival may allow to some requester: those of the first match, and of
 * every rule before it that names users or accounts (whether one of them
 * applies depends on the request); 0 when none allows anything. A request
 * on a subject with no rights can be refused before its payload is
 * read. */
unsigned acl_rights(const acl_rule *rules, size_t n, const char *arrival);

/* Whether pattern later can match a subject made of the first k tokens of
 * pattern earlier, for some k shorter than earlier (a proper token
 * prefix): later "apps.>" and earlier "apps.*.readonly.requests" both match
 * "apps.x". A client allowed to publish on earlier's subjects could once
 * reach later's rights with "apps.x<NUL>.readonly.requests", read as
 * "apps.x"; vaultctl now refuses such subjects, and `serve --check` warns
 * about such pairs all the same. */
bool acl_shadows_prefix(const char *later, const char *earlier);

/* The first rule whose subject matches arrival and that does not name
 * users or accounts, or NULL: acl_first_match_id without an identity. */
const acl_rule *acl_first_match(const acl_rule *rules, size_t n, const char *arrival);

/* The first rule that applies to a request on arrival from id (NULL: no
 * identity), or NULL. */
const acl_rule *acl_first_match_id(const acl_rule *rules, size_t n, const char *arrival,
                                   const vc_identity *id);

/* Whether key (len bytes) is within the rule's `keys` (true when it has
 * none; rule NULL: the local CLI, true). A pattern with {name} never
 * matches here: see acl_key_allowed_id. */
bool acl_key_allowed(const acl_rule *rule, const char *key, size_t len);

/* acl_key_allowed with {name} in a pattern standing for id's name
 * (identity_name); without one, such a pattern matches nothing. */
bool acl_key_allowed_id(const acl_rule *rule, const char *key, size_t len, const vc_identity *id);

/* VC_OK if allowed, else VC_ACCESS_DENIED with message "Access denied". */
vc_code acl_check(const acl_rule *rules, size_t n, const acl_request *req, vc_err *err);

#endif
