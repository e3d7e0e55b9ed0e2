/*
 * fdio: whole writes on a descriptor.
 */
#ifndef RELAYD_FDIO_H
#define RELAYD_FDIO_H

#include <stddef.h>

/* Write all of buf, retrying after EINTR; 0, or an errno (EIO for 0). */
int	 write_full(int fd, const void *buf, size_t len, size_t *done);

#endif
