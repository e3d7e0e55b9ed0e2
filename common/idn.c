/*
 * idn: U-labels to A-labels with libidn2 (IDNA2008, non-transitional as
 * the registries and the browsers now are).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "idn.h"

int
idn_is_unicode(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

int
idn_to_alabel(const char *in, char *out, size_t sz)
{
	char	*a = NULL;
	size_t	 i;
	int	 rv;

	if (!idn_is_unicode(in)) {
		/* ASCII names are looked up as they are: no IDNA rules. */
		for (i = 0; in[i] != '\0'; i++) {
			if (i + 1 >= sz)
				return -1;
			out[i] = (char)tolower((unsigned char)in[i]);
		}
		out[i] = '\0';
		return 0;
	}
	rv = idn2_to_ascii_8z(in, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rv != IDN2_OK || a == NULL) {
		free(a);
		return -1;
	}
	for (i = 0; a[i] != '\0'; i++)
		a[i] = (char)tolower((unsigned char)a[i]);
	rv = strlcpy(out, a, sz) < sz ? 0 : -1;
	idn2_free(a);
	return rv;
}
