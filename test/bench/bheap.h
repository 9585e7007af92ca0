/**
 * @file bheap.h  Binary heap of the benchmarks' virtual-time worlds
 *
 * A min-heap of fixed-size elements in one growing array, ordered by the
 * caller's `before` function (by due time, then by sequence number, so
 * that equal times keep their order).  O(log n) per push and pop.  Used
 * by scale.c and fleet.c; an allocation failure ends the program (a
 * benchmark has nothing to fall back to).
 *
 * Copyright (C) 2026 The serreg developers
 */

#ifndef SERREG_BHEAP_H
#define SERREG_BHEAP_H

typedef bool (bheap_before_h)(const void *a, const void *b);

struct bheap {
	uint8_t *v;              /**< the elements                     */
	size_t n;                /**< elements in the heap             */
	size_t sz;               /**< room for this many               */
	size_t esz;              /**< size of one element              */
	bheap_before_h *before;  /**< a goes out before b              */
};

void bheap_init(struct bheap *h, size_t esz, bheap_before_h *before);
void bheap_push(struct bheap *h, const void *e);
void bheap_pop(struct bheap *h, void *top);
void bheap_close(struct bheap *h);

#endif
