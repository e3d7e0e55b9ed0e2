/*
 * fdio: whole writes on a descriptor.
 */
#include <errno.h>
#include <unistd.h>

#include "fdio.h"

int
write_full(int fd, const void *buf, size_t len, size_t *done)
{
	const char	*p = buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 err = 0;

	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n == 0 ? EIO : errno;
			break;
		}
		off += (size_t)n;
	}
	if (done != NULL)
		*done = off;
	return err;
}
