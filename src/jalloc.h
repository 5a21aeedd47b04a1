/* jalloc.h - jansson's memory, wiped on free.
 *
 * jansson keeps every string it parses or builds (a request's value, a
 * stored secret on its way into a reply, the dump buffers) in blocks of its
 * own and frees them with its free function. jalloc_install makes that
 * function wipe the whole block (sodium_memzero) before free(), so a secret
 * that passed through jansson leaves no copy in freed heap memory. Each
 * block carries its size in a small header in front of it (JALLOC_HEADER
 * bytes); the pointer jansson gets is just past the header.
 *
 * Two rules follow from the header:
 *
 * 1. Install first. jalloc_install must run before the process makes its
 *    first jansson allocation (main() does it on its first line; so do
 *    tests and fuzzers that use it): a block malloc'd before the install
 *    and freed after it would reach jalloc's free without a header.
 *    Installing twice is harmless; there is no uninstall.
 *
 * 2. Never free() what jansson returns for the caller to free. json_dumps
 *    returns such a string, from jansson's allocator: once installed, its
 *    block starts JALLOC_HEADER bytes before the pointer, and free() on it
 *    corrupts the heap. Use jalloc_dumps, whose result is plain malloc
 *    memory, or free the json_dumps result with jalloc_free.
 *
 * What the wipe does not reach (libyaml, nats.c, stdio and kernel buffers):
 * docs/SECURITY.md. */
#ifndef VAULTCTL_JALLOC_H
#define VAULTCTL_JALLOC_H

#include <stddef.h>

#include <jansson.h>

/* Header in front of every block: the size, padded to the strictest
 * alignment so the block stays aligned for any type. */
#define JALLOC_HEADER sizeof(max_align_t)

/* Makes jalloc_malloc/jalloc_free jansson's allocator (json_set_alloc_funcs).
 * Call once at process start, before any jansson call (see rule 1). */
void jalloc_install(void);

/* The allocator itself: malloc(size) with the header, NULL for size 0 or on
 * failure; free that wipes header and block, then free(). jalloc_free(NULL)
 * does nothing. Only for blocks from jalloc_malloc (or from jansson once
 * installed). */
void *jalloc_malloc(size_t size);
void jalloc_free(void *ptr);

/* json_dumps(json, flags) as a plain malloc'd string (free() it; it is the
 * caller's to wipe if it holds a secret). jansson's own copy is freed with
 * jansson's current free function, wiped if installed. *len (if len is not
 * NULL) is its length. NULL if json is NULL, on failure, or if jansson
 * refuses to dump it. */
char *jalloc_dumps(const json_t *json, size_t flags, size_t *len);

/* Test hook: called by jalloc_free with each block (without its header)
 * and its size after the wipe and before free(), so a test can see that a
 * freed block holds no secret. NULL (the default) turns it off. Tests only:
 * set it while no other thread uses jansson. */
typedef void (*jalloc_hook_fn)(void *arg, const unsigned char *block, size_t size);
void jalloc_set_test_hook(jalloc_hook_fn hook, void *arg);

#endif
