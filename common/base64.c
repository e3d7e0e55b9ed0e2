/*
 * base64: encoding and strict decoding (RFC 4648).
 */
#include <string.h>

#include "base64.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	size_t		i, o = 0;
	uint32_t	v;

	if (n > 0x3fffffff || B64_LEN(n) >= outsz)
		return -1;
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 0x3f];
		out[o++] = b64[(v >> 6) & 0x3f];
		out[o++] = b64[v & 0x3f];
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] <<
		    8 : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 0x3f];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 0x3f] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int
b64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

int
b64_decode(const char *in, size_t n, uint8_t *out, size_t outsz)
{
	size_t		i, o = 0, pad = 0;
	uint32_t	v;
	int		d[4], k;

	if (n % 4 != 0)
		return -1;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	if (n / 4 * 3 - pad > outsz || n / 4 * 3 > 0x7fffffff)
		return -1;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			/* '=' only at the end, as the padding counted. */
			if (i + 4 == n && k >= 4 - (int)pad) {
				if (in[i + k] != '=')
					return -1;
				d[k] = 0;
			} else if ((d[k] = b64_value(in[i + k])) == -1)
				return -1;
		}
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		/* The bits the padding leaves out are zero: one spelling. */
		if (i + 4 == n && (v & (pad == 2 ? 0xffff : pad ? 0xff : 0)))
			return -1;
		out[o++] = (uint8_t)(v >> 16);
		if (i + 4 < n || pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (i + 4 < n || pad < 1)
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}
