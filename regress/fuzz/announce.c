/*
 * Fuzz target: an announcement's text as relayctl, the parent and queued
 * check it (common/announce.c): any input is accepted or refused without
 * reading out of bounds; what is accepted is bounded, has no NUL and no
 * line longer than 998 octets; its subject is printable ASCII and skips
 * no more than there is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/announce.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*copy, subject[ANNOUNCE_SUBJECT_MAX + 1];
	size_t		 i, col = 0, skip;

	/* Exactly the input, no terminator: a read past it is caught. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (announce_text_check(copy, size) == NULL) {
		if (size == 0 || size > ANNOUNCE_MAX ||
		    memchr(copy, '\0', size) != NULL)
			abort();
		for (i = 0; i < size; i++) {
			col = copy[i] == '\n' ? 0 : col + 1;
			if (col > ANNOUNCE_LINE_MAX + 1)
				abort();
		}
	}
	announce_subject(copy, size, subject, sizeof(subject), &skip);
	if (skip > size || strlen(subject) > ANNOUNCE_SUBJECT_MAX)
		abort();
	for (i = 0; subject[i] != '\0'; i++)
		if ((unsigned char)subject[i] < 0x20 ||
		    (unsigned char)subject[i] > 0x7e)
			abort();
	free(copy);
	return 0;
}
