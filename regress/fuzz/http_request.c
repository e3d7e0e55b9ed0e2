/*
 * Fuzz target: an HTTP request head as metricsd reads it
 * (metricsd/http_parse.c).  Whatever the input, the answer is "more", or
 * one of the statuses metricsd sends, with a version of 1.0 or 1.1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metricsd/metricsd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct http_req	 r;
	char		*copy;
	int		 rv;

	/* An exact-size copy, so reading past the end is caught. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(copy, data, len);
	rv = http_parse(copy, len, &r);
	if (rv != HTTP_MORE && (rv != 0 || (r.status != 200 &&
	    r.status != 400 && r.status != 404 && r.status != 405) ||
	    (r.minor != 0 && r.minor != 1)))
		abort();
	free(copy);
	return 0;
}
