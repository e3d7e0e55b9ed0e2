/*
 * fdpool: a bounded stack of (queue id, descriptor).  The last file put
 * back is the first taken, so a short burst reuses the same few files.
 */
#include "fdpool.h"

void
fdpool_init(struct fdpool *p, size_t max)
{
	p->n = 0;
	p->max = max < FDPOOL_CAP ? max : FDPOOL_CAP;
}

int
fdpool_put(struct fdpool *p, uint64_t id, int fd)
{
	if (p->n >= p->max)
		return -1;
	p->item[p->n].id = id;
	p->item[p->n].fd = fd;
	p->n++;
	return 0;
}

int
fdpool_take(struct fdpool *p, uint64_t *id, int *fd)
{
	if (p->n == 0)
		return -1;
	p->n--;
	*id = p->item[p->n].id;
	*fd = p->item[p->n].fd;
	return 0;
}
