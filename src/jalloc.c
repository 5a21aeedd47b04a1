/* jalloc.c - jansson's memory, wiped on free (see jalloc.h). */
#include "jalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static jalloc_hook_fn test_hook;
static void *test_hook_arg;

void *jalloc_malloc(size_t size)
{
    unsigned char *block;

    if (size == 0 || size > SIZE_MAX - JALLOC_HEADER)
        return NULL;
    block = malloc(JALLOC_HEADER + size);
    if (block == NULL)
        return NULL;
    memcpy(block, &size, sizeof size);
    return block + JALLOC_HEADER;
}

void jalloc_free(void *ptr)
{
    unsigned char *block;
    size_t size;

    if (ptr == NULL)
        return;
    block = (unsigned char *)ptr - JALLOC_HEADER;
    memcpy(&size, block, sizeof size);
    sodium_memzero(block, JALLOC_HEADER + size);
    if (test_hook != NULL)
        test_hook(test_hook_arg, ptr, size);
    free(block);
}

void jalloc_install(void)
{
    json_set_alloc_funcs(jalloc_malloc, jalloc_free);
}

char *jalloc_dumps(const json_t *json, size_t flags, size_t *len)
{
    json_malloc_t jmalloc;
    json_free_t jfree;
    char *copy = NULL;
    size_t n = 0;

    if (len != NULL)
        *len = 0;
    if (json == NULL)
        return NULL;
    char *s = json_dumps(json, flags);
    if (s != NULL) {
        n = strlen(s);
        copy = malloc(n + 1);
        if (copy != NULL)
            memcpy(copy, s, n + 1);
        json_get_alloc_funcs(&jmalloc, &jfree);
        jfree(s);
    }
    if (len != NULL && copy != NULL)
        *len = n;
    return copy;
}

void jalloc_set_test_hook(jalloc_hook_fn hook, void *arg)
{
    test_hook_arg = arg;
    test_hook = hook;
}
