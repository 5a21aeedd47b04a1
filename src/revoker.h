/* revoker.h - revoking a NATS user of the nats_credentials account before
 * its JWT expires (PROTOCOL.md §10, operation `revoke` with `public_key`).
 *
 * Needs three settings (all or none): nats_credentials.operator_signing_key
 * (a seed file, SO...: the operator's own key or one of its signing keys,
 * which signs the account JWT), nats_credentials.account_jwt (a file with
 * the account's JWT as the operator issued it; `vaultctl nats-init` writes
 * account.jwt) and nats_credentials.system_creds (a .creds file of a
 * system-account user that may publish $SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE).
 *
 * A revocation: the account's claims from account_jwt, with `revocations`
 * holding every user revoked so far (kept in the vault under the key
 * REVOKER_KEY_PREFIX + account, so a later revocation and a restart keep
 * them; at most REVOKER_MAX entries), `iat` now, re-signed with the
 * operator key and published to $SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE
 * over the system-account connection; nats-server answers and closes that
 * user's connections at once. The account JWT is rebuilt from the file
 * rather than fetched from the server: nats-server 2.9.10's MEMORY resolver
 * does not answer $SYS.REQ.ACCOUNT.<acct>.CLAIMS.LOOKUP (only the full and
 * cache resolvers register it), and re-signing exactly what the operator
 * issued keeps its signing keys, limits, imports and exports.
 *
 * A full resolver (what `vaultctl nats-init` configures) stores pushed
 * claims in its directory and keeps them across a restart; a MEMORY
 * resolver keeps them in memory only, and a restarted nats-server reloads
 * its resolver_preload without them. For the latter, after every
 * connect and reconnect of the system-account connection, the instance
 * that may write (vault_is_active; a standby once it becomes active) pushes
 * the stored list again (a thread of the revoker; one log line, retried
 * every few seconds while it fails). Entries older than the longest role
 * max_ttl are left out of what is signed (every JWT they revoke has
 * expired); a revocation also drops them from the stored list.
 */
#ifndef VAULTCTL_REVOKER_H
#define VAULTCTL_REVOKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "err.h"
#include "vault.h"

#define REVOKER_KEY_PREFIX "_vaultctl/nats-revocations/"
#define REVOKER_MAX        1000
/* Room for what the audit event adds: ,"revoked":{"public_key":"U..."} */
#define REVOKER_AUDIT_MAX 128

typedef struct nats_revoker nats_revoker;

/* The revoker of c's settings: *out NULL (and VC_OK) when revocation is not
 * configured. Loads the operator key (sodium memory, inaccessible while
 * idle) and the account JWT, starts the re-push thread (it reads the list
 * from v) and the system-account connection (retried in the background
 * while the server is down). VC_CONFIG naming the setting otherwise. c and
 * v must outlive the revoker. */
vc_code revoker_start(nats_revoker **out, const config *c, vault *v, vc_err *err);

/* For `serve --check`: loads and checks the revocation settings without
 * connecting: the account JWT is nats_credentials.account's, the operator
 * key loads (secretfile's rule) and nats-server takes what it signs (it
 * issued the account JWT, or operator.jwt beside the account JWT is its
 * own or lists it among its signing keys), system_creds passes
 * secretfile_check. VC_OK with summary "" when revocation is off; else
 * summary (a line, no secret) says what was checked. */
vc_code revoker_check(const config *c, char *summary, size_t cap, vc_err *err);

/* Stops the re-push thread (waits for a push under way), closes the
 * connection, wipes and frees; NULL is fine. */
void revoker_free(nats_revoker *r);

/* Revokes user_pub (U...) at now, as described above; *data (new
 * reference) {"public_key","account","revoked_at","revocations","server"};
 * audit gets the audit event's members. r NULL: VC_BAD_REQUEST saying that
 * revocation of NATS users is not configured. Not for the vault's
 * completer thread (it writes the list with vault_set). */
vc_code revoker_revoke(nats_revoker *r, vault *v, const char *user_pub, int64_t now, json_t **data,
                       char *audit, size_t audit_cap, vc_err *err);

#endif
