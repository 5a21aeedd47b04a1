/* fairq.c - a fair, bounded set of FIFO queues (see fairq.h). */
#include "fairq.h"

#include <stdlib.h>

bool fairq_init(fairq *f, int nqueues, size_t max_count, size_t max_bytes)
{
    *f = (fairq){0};
    if (nqueues < 1 || max_count < 1 || max_bytes < 1)
        return false;
    f->lists = calloc((size_t)nqueues, sizeof *f->lists);
    if (f->lists == NULL)
        return false;
    f->n = nqueues;
    /* Half the budget as equal shares, half as the common pool. */
    f->share_count = max_count / (2 * (size_t)nqueues);
    f->share_bytes = max_bytes / (2 * (size_t)nqueues);
    f->pool_count = max_count - f->share_count * (size_t)nqueues;
    f->pool_bytes = max_bytes - f->share_bytes * (size_t)nqueues;
    return true;
}

void fairq_free(fairq *f)
{
    free(f->lists);
    f->lists = NULL;
    f->n = 0;
}

/* What used holds beyond share (taken from the pool). */
static size_t fairq_over(size_t used, size_t share)
{
    return used > share ? used - share : 0;
}

bool fairq_put(fairq *f, int q, fairq_node *node)
{
    fairq_list *l = &f->lists[q];
    size_t ec = f->excess_count - fairq_over(l->count, f->share_count) +
                fairq_over(l->count + 1, f->share_count);
    size_t eb = f->excess_bytes - fairq_over(l->bytes, f->share_bytes) +
                fairq_over(l->bytes + node->cost, f->share_bytes);
    if (ec > f->pool_count || eb > f->pool_bytes)
        return false;
    f->excess_count = ec;
    f->excess_bytes = eb;
    l->count++;
    l->bytes += node->cost;
    f->len++;
    node->queue = q;
    node->next = NULL;
    if (l->tail != NULL)
        l->tail->next = node;
    else
        l->head = node;
    l->tail = node;
    return true;
}

fairq_node *fairq_take(fairq *f)
{
    for (int k = 0; k < f->n; k++) {
        int i = (f->next + k) % f->n;
        fairq_list *l = &f->lists[i];
        fairq_node *node = l->head;
        if (node == NULL)
            continue;
        f->next = (i + 1) % f->n;
        l->head = node->next;
        if (l->head == NULL)
            l->tail = NULL;
        f->excess_count -=
            fairq_over(l->count, f->share_count) - fairq_over(l->count - 1, f->share_count);
        f->excess_bytes -= fairq_over(l->bytes, f->share_bytes) -
                           fairq_over(l->bytes - node->cost, f->share_bytes);
        l->count--;
        l->bytes -= node->cost;
        f->len--;
        return node;
    }
    return NULL;
}

size_t fairq_len(const fairq *f)
{
    return f->len;
}
