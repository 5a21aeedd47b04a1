/* fairq.h - a fair, bounded set of FIFO queues: the service's request
 * queue, one queue per subscription.
 *
 * Bounded by a count and a byte budget (each item says what it costs).
 * Half of each budget is split evenly into per-queue shares that a queue
 * may always use; the other half is a common pool for what queues hold
 * beyond their share. So the total never exceeds the budget, and a queue
 * flooded with items cannot take another queue's share. fairq_take serves
 * the queues round-robin, so a flooded queue cannot starve another either.
 *
 * Intrusive: an item embeds a fairq_node (the queue owns no memory of its
 * own beyond the queue array). Not thread-safe: the caller holds its lock
 * around every call. */
#ifndef VAULTCTL_FAIRQ_H
#define VAULTCTL_FAIRQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fairq_node {
    struct fairq_node *next;
    size_t cost; /* bytes it counts for in the byte budget */
    int queue;   /* the queue it is on (set by fairq_put) */
} fairq_node;

typedef struct {
    fairq_node *head, *tail;
    size_t count, bytes;
} fairq_list;

typedef struct {
    fairq_list *lists;
    int n;
    int next;   /* the queue fairq_take serves first */
    size_t len; /* items in all queues */
    size_t share_count, share_bytes, pool_count, pool_bytes;
    size_t excess_count, excess_bytes; /* taken from the pool */
} fairq;

/* nqueues >= 1 queues within max_count items and max_bytes bytes (both
 * >= 1). false when out of memory. */
bool fairq_init(fairq *f, int nqueues, size_t max_count, size_t max_bytes);

/* Frees the queue array (items still queued are the caller's). */
void fairq_free(fairq *f);

/* Appends node to queue q if the budget allows; false (node untouched) if
 * not. */
bool fairq_put(fairq *f, int q, fairq_node *node);

/* The oldest item of the next non-empty queue after the last one served;
 * NULL if all are empty. */
fairq_node *fairq_take(fairq *f);

/* Items in all queues. */
size_t fairq_len(const fairq *f);

#endif
