/* natsmsg.h - the true subject and reply of a received NATS message, and
 * whether they are fit to be an identity, a log field or a reply address.
 *
 * nats-server 2.9.10 accepts a NUL byte (and other control bytes) inside a
 * subject token, and nats.c hands the subject over as a C string: read with
 * strlen, "apps.x<NUL>.readonly.requests" is "apps.x". The ACL, the log and
 * the audit event must see every byte, so the lengths are recovered from
 * the message's memory layout (natsmsg_lengths, below), which
 * natsmsg_self_check verifies at start-up against the linked nats.c.
 */
#ifndef VAULTCTL_NATSMSG_H
#define VAULTCTL_NATSMSG_H

#include <stdbool.h>
#include <stddef.h>

#include <nats/nats.h>

#include "err.h"

/* True length of the subject and the reply subject nats.c copied into m
 * (*reply_len 0 when m has no reply subject). Must be called before
 * anything reads m's headers (nats.c parses them in place, writing NULs).
 *
 * nats.c 3.4.1 (src/msg.c, natsMsg_create) allocates one block and copies,
 * back to back: the subject and a NUL; the reply and a NUL (if there is a
 * reply); the raw header block "NATS/1.0...\r\n\r\n" and a NUL (if there
 * are headers); then the data and a NUL. So:
 *   - with a reply, the subject is exactly reply - subject - 1 bytes;
 *   - the last string before the data (the reply, or the subject without a
 *     reply) ends at its first NUL only if what follows that NUL is the
 *     data itself or one whole header block: "NATS/", no NUL, ending
 *     "\r\n\r\n" right before the NUL that precedes the data. A subject
 *     cannot hold "\n" (it ends the protocol line), so the rest of a subject
 *     with a NUL in it can never pass for a header block.
 * Returns false when the layout does not read that way: then the true
 * length is unknown, and the message must be treated as unfit. */
bool natsmsg_lengths(const natsMsg *m, size_t *subject_len, size_t *reply_len);

/* Whether len bytes at s may be a subject vaultctl acts on: not empty, no
 * NUL, no control byte (< 0x20, 0x7f), no space, valid UTF-8 (no overlong
 * forms, surrogates or code points above U+10FFFF). */
bool natsmsg_subject_clean(const char *s, size_t len);

/* Checks, with messages made by natsMsg_Create, that the linked nats.c lays
 * a message out as natsmsg_lengths assumes. VC_INTERNAL with a message
 * saying so if not: the service must then refuse to start, because it could
 * not tell a subject with a NUL from a shorter one. */
vc_code natsmsg_self_check(vc_err *err);

#endif
