/* jalloc.c - jansson's memory, wiped on free (see jalloc.h). */
#include "jalloc.h"

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static jalloc_hook_fn test_hook;
static void *test_hook_arg;

void *jalloc_malloc(size_t size)
{
    /* No block that large can exist: refuse it before malloc does (and
     * before a sanitizer's allocator reports it). */
    return size == 0 || size > PTRDIFF_MAX ? NULL : malloc(size);
}

void jalloc_free(void *ptr)
{
    size_t size;

    if (ptr == NULL)
        return;
    /* The whole block glibc gave, which covers what jansson asked for. */
    size = malloc_usable_size(ptr);
    sodium_memzero(ptr, size);
    if (test_hook != NULL)
        test_hook(test_hook_arg, ptr, size);
    free(ptr);
}

void jalloc_install(void)
{
    json_set_alloc_funcs(jalloc_malloc, jalloc_free);
}

char *jalloc_dumps(const json_t *json, size_t flags, size_t *len)
{
    char *s = json != NULL ? json_dumps(json, flags) : NULL;

    if (len != NULL)
        *len = s != NULL ? strlen(s) : 0;
    return s;
}

void jalloc_set_test_hook(jalloc_hook_fn hook, void *arg)
{
    test_hook_arg = arg;
    test_hook = hook;
}
