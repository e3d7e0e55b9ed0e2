/*
 * Fuzz target: a refusal batch as queued reads it from smtpd or policyd
 * (common/stats.c).  Anything is refused or gives entries within bounds
 * (a terminated tenant name, a refusal counter) that, written again,
 * read back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/marshal.h"
#include "common/stats.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct stat_batch	b, again;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw	w;
	size_t		i;

	if (stat_batch_read(data, size, &b) == -1) {
		if (b.n != 0)
			abort();
		return 0;
	}
	if (b.n > STAT_BATCH_MAX)
		abort();
	for (i = 0; i < b.n; i++)
		if (memchr(b.e[i].tenant, '\0', sizeof(b.e[i].tenant)) ==
		    NULL || b.e[i].counter < ST_REJECT ||
		    b.e[i].counter >= ST_MAX)
			abort();
	mw_init(&w);
	stat_batch_write(&w, &b);
	if (w.err || w.len != size || memcmp(w.buf, data, size) != 0)
		abort();
	if (stat_batch_read(w.buf, w.len, &again) == -1 || again.n != b.n)
		abort();
	return 0;
}
