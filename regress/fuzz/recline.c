/*
 * Fuzz target: record lines read back (queued/queue_recline.c).
 *
 * trace and the legal holds read record files, which a crash, a full
 * disk or a hand may have damaged.  Any line either is refused or gives
 * fields that, written out again, read back the same; its JSON holds no
 * raw control character and is one object; matching never reads out of
 * bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queued/queued.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct recview	v, again;
static struct recline	rl;
static char		json[2 * REC_LINE_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	if (rl_parse((const char *)data, size, &v) == -1)
		return 0;
	(void)rv_names(&v, "bob@example.org");
	(void)rv_tenant(&v, "acme");
	if (rl_json(&v, json, sizeof(json)) == 0) {
		if (json[0] != '{' || json[strlen(json) - 1] != '}')
			abort();
		for (i = 0; json[i] != '\0'; i++)
			if ((unsigned char)json[i] < 0x20)
				abort();
	}
	/* Written out again (a fixed id and time), read back the same. */
	rl_begin(&rl, 1, 0, "e");
	for (i = 0; i < v.n; i++) {
		if (strpbrk(v.keys[i], " =\"") != NULL || *v.keys[i] == '\0' ||
		    strlen(v.vals[i]) > REC_VALUE_MAX)
			return 0;
		rl_str(&rl, v.keys[i], v.vals[i]);
	}
	rl_end(&rl);
	if (rl.cut)
		return 0;
	if (rl_parse(rl.buf, rl.len, &again) == -1 || again.n != v.n)
		abort();
	for (i = 0; i < v.n; i++)
		if (strcmp(again.keys[i], v.keys[i]) != 0 ||
		    strcmp(again.vals[i], v.vals[i]) != 0)
			abort();
	return 0;
}
