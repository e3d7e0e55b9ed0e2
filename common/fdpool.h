/*
 * fdpool: a small stack of open spool files and their queue ids, kept
 * ready for the next message (smtpd's spares, queued's recycled files).
 */
#ifndef RELAYD_FDPOOL_H
#define RELAYD_FDPOOL_H

#include <stddef.h>
#include <stdint.h>

#define FDPOOL_CAP	64

struct fdpool {
	struct {
		uint64_t	 id;
		int		 fd;
	}			 item[FDPOOL_CAP];
	size_t			 n;
	size_t			 max;		/* at most FDPOOL_CAP */
};

void	 fdpool_init(struct fdpool *, size_t max);
/* -1 when the pool is full: the caller keeps the file. */
int	 fdpool_put(struct fdpool *, uint64_t id, int fd);
/* -1 when the pool is empty. */
int	 fdpool_take(struct fdpool *, uint64_t *id, int *fd);

#endif
