/*
 * Fuzz target: a frame of samples as metricsd receives it from the
 * parent (common/metrics.c mx_decode, metricsd/mxd_render.c).  Whatever
 * the frame, what is rendered is the text format: each line a # HELP, a
 * # TYPE or a sample of a known name, and no control character in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metricsd/metricsd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct mxd_collect	 col;
	struct evbuffer		*out;
	const char		*why;
	unsigned char		*text, *p;
	size_t			 n;

	memset(&col, 0, sizeof(col));
	(void)mxd_collect_add(&col, PROC_DNSD, data, len, &why);
	col.ended[PROC_DNSD] = col.asked[PROC_DNSD] = 1;
	col.answered[PROC_DNSD] = 1;
	if ((out = evbuffer_new()) == NULL)
		return 0;
	if (mxd_render(&col, out) == 0) {
		n = evbuffer_get_length(out);
		text = evbuffer_pullup(out, -1);
		if (n == 0 || text[n - 1] != '\n')
			abort();
		for (p = text; p < text + n; p++)
			if ((*p < 0x20 && *p != '\n') || *p >= 0x7f)
				abort();
		for (p = text; p < text + n; p = (unsigned char *)memchr(p,
		    '\n', n - (size_t)(p - text)) + 1)
			if (strncmp((char *)p, "relayd_", 7) != 0 &&
			    strncmp((char *)p, "# HELP relayd_", 14) != 0 &&
			    strncmp((char *)p, "# TYPE relayd_", 14) != 0)
				abort();
	}
	evbuffer_free(out);
	mxd_collect_reset(&col);
	return 0;
}
