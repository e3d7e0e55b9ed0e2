/*
 * base64: RFC 4648 section 4, strict: padding as it must be, no line
 * breaks, no other character.  What SASL exchanges carry (RFC 4954).
 */
#ifndef RELAYD_BASE64_H
#define RELAYD_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The encoded length of n octets, without the NUL. */
#define B64_LEN(n)	((((n) + 2) / 3) * 4)

/* NUL-terminated into out; the length, or -1 if out is too small. */
int	 b64_encode(const uint8_t *, size_t, char *out, size_t outsz);
/* The decoded length, or -1 for what is not base64 or does not fit. */
int	 b64_decode(const char *, size_t, uint8_t *out, size_t outsz);

#endif
