/* jalloc.h - jansson's memory, wiped on free.
 *
 * jansson keeps every string it parses or builds (a request's value, a
 * stored secret on its way into a reply, the dump buffers) in blocks of its
 * own and frees them with its free function. jalloc_install makes that
 * function wipe the whole block (sodium_memzero) before free(), so a secret
 * that passed through jansson leaves no copy in freed heap memory.
 *
 * The blocks are plain malloc blocks: the free function learns a block's
 * size from glibc (malloc_usable_size), so there is no header. That keeps
 * jansson's results ordinary heap memory: a json_dumps string may be free()d
 * as before (it is then not wiped: use jalloc_free for one that holds a
 * secret), and a block allocated before jalloc_install may be freed after
 * it. Installing twice is harmless; there is no uninstall.
 *
 * What the wipe does not reach (libyaml, nats.c, stdio and kernel buffers):
 * docs/SECURITY.md. */
#ifndef VAULTCTL_JALLOC_H
#define VAULTCTL_JALLOC_H

#include <stddef.h>

#include <jansson.h>

/* Makes jalloc_malloc/jalloc_free jansson's allocator (json_set_alloc_funcs).
 * Call once at process start, before any jansson call (see rule 1). */
void jalloc_install(void);

/* The allocator itself: malloc(size), NULL for size 0 or on failure; a free
 * that wipes the whole block, then free(). jalloc_free(NULL) does nothing.
 * jalloc_free takes any block from malloc. */
void *jalloc_malloc(size_t size);
void jalloc_free(void *ptr);

/* json_dumps(json, flags), a malloc'd string (free() it, or jalloc_free it
 * to wipe it), with its length in *len if len is not NULL. NULL if json is
 * NULL, on failure, or if jansson refuses to dump it. */
char *jalloc_dumps(const json_t *json, size_t flags, size_t *len);

/* Test hook: called by jalloc_free with each block
 * and its size after the wipe and before free(), so a test can see that a
 * freed block holds no secret. NULL (the default) turns it off. Tests only:
 * set it while no other thread uses jansson. */
typedef void (*jalloc_hook_fn)(void *arg, const unsigned char *block, size_t size);
void jalloc_set_test_hook(jalloc_hook_fn hook, void *arg);

#endif
