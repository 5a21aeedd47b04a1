/* identity.h - server-attested identity of a request (PROTOCOL.md §11,
 * `acl_identity: request_info`).
 *
 * nats-server 2.9 adds a `Nats-Request-Info` header (its ClientInfo as JSON:
 * "acc", "user", "name_tag", "name", ...) to a request that crosses a
 * service import whose import says `share: true`, and then overwrites any
 * header of that name the client wrote. Inside one account it adds nothing
 * and passes a client's own header through unchanged. So the header proves
 * something only when the request came through an import:
 *
 *   - no header, or one that is not a JSON object with string "acc" and
 *     "user": no identity;
 *   - "acc" equal to the vault's own account (acl_identity_account): the
 *     request did not cross an import: no identity;
 *   - the reply subject does not start with "_R_.": nats-server 2.9 gives
 *     every request that crosses a service import a reply subject of its
 *     own under "_R_."; a request with another reply was published inside
 *     the vault's account: no identity.
 *
 * A client in the vault's account could still write the header and a
 * "_R_." reply (it could only read the answer if it may subscribe to
 * "_R_.>"): on 2.9 such a request cannot be told apart by its bytes, so the
 * deployment keeps the vault's account to vaultctl's own users
 * (docs/SECURITY.md).
 *
 * The name ({name} in an entry's keys) is "name_tag" (the name in the
 * user's JWT, operator mode); a user of an account defined in the server
 * configuration has no JWT, and its name is then "user" (the configured
 * user name, set by the server as well). "name" (the connection name the
 * client chose) is never used. Pure: no NATS.
 */
#ifndef VAULTCTL_IDENTITY_H
#define VAULTCTL_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#define IDENTITY_FIELD_MAX 128
/* Room for "identity":{...} in an audit event (three plain fields). */
#define IDENTITY_AUDIT_MAX (3 * IDENTITY_FIELD_MAX + 80)

typedef struct {
    bool attested;                         /* the fields below count */
    char account[IDENTITY_FIELD_MAX + 1];  /* "acc": account key or name */
    char user[IDENTITY_FIELD_MAX + 1];     /* "user": U... or a user name */
    char name_tag[IDENTITY_FIELD_MAX + 1]; /* "name_tag", "" if none */
} vc_identity;

/* Fills *out from the header value (NUL-terminated, NULL: none), the
 * request's reply subject (NULL: none) and the vault's own account
 * (NULL or "": not configured), following the rules above. Never fails:
 * anything not attested leaves out->attested false. */
void identity_read(vc_identity *out, const char *header, const char *reply,
                   const char *own_account);

/* The name {name} stands for: name_tag, else user; NULL when id is NULL,
 * not attested, or the name is not 1-64 of [A-Za-z0-9_-] (it goes into key
 * patterns, where '*' or '/' would widen them). */
const char *identity_name(const vc_identity *id);

/* Whether id (may be NULL) matches the lists: users (user key or name,
 * an entry may end in one final '*') and accounts (likewise); an empty
 * list (n 0) matches anything, but a request without an attested identity
 * matches no list at all. */
bool identity_matches(const vc_identity *id, char *const *users, size_t nusers,
                      char *const *accounts, size_t naccounts);

/* Whether a user or account pattern from the configuration is acceptable:
 * 1..IDENTITY_FIELD_MAX printable ASCII characters, no '"' or '\\', and
 * '*' only as the last one. */
bool identity_pattern_valid(const char *p, size_t len);

/* "\"identity\":{\"account\":...,\"user\":...,\"name_tag\":...}" into buf
 * (an attested identity only; "" otherwise): compact JSON members for an
 * audit event. */
void identity_audit_json(const vc_identity *id, char *buf, size_t cap);

#endif
