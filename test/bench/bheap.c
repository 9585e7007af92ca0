/**
 * @file bheap.c  Binary heap of the benchmarks' virtual-time worlds
 *
 * Copyright (C) 2026 The serreg developers
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "bheap.h"


enum {
	BHEAP_FIRST = 1024,   /**< elements of the first allocation */
};


static void *at(const struct bheap *h, size_t i)
{
	return h->v + i * h->esz;
}


void bheap_init(struct bheap *h, size_t esz, bheap_before_h *before)
{
	memset(h, 0, sizeof(*h));
	h->esz = esz;
	h->before = before;
}


void bheap_push(struct bheap *h, const void *e)
{
	size_t i;

	if (h->n == h->sz) {
		size_t nsz = h->sz ? h->sz * 2 : BHEAP_FIRST;
		uint8_t *nv = realloc(h->v, nsz * h->esz);

		if (!nv) {
			fprintf(stderr, "bheap: out of memory\n");
			exit(2);
		}

		h->v = nv;
		h->sz = nsz;
	}

	for (i = h->n++; i > 0; i = (i - 1) / 2) {
		if (!h->before(e, at(h, (i - 1) / 2)))
			break;
		memcpy(at(h, i), at(h, (i - 1) / 2), h->esz);
	}

	memcpy(at(h, i), e, h->esz);
}


/* The first element out; the heap must not be empty */
void bheap_pop(struct bheap *h, void *top)
{
	size_t i = 0, c, last = --h->n;

	memcpy(top, at(h, 0), h->esz);

	for (;;) {
		c = 2 * i + 1;
		if (c >= last)
			break;
		if (c + 1 < last && h->before(at(h, c + 1), at(h, c)))
			++c;
		if (!h->before(at(h, c), at(h, last)))
			break;
		memcpy(at(h, i), at(h, c), h->esz);
		i = c;
	}

	if (last)
		memcpy(at(h, i), at(h, last), h->esz);
}


void bheap_close(struct bheap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}
