/*
 * base64: RFC 4648's test vectors both ways, and the strict decoder's
 * refusals (what a SASL client may send us).
 */
#include <string.h>

#include "base64.h"
#include "tap.h"

static const struct {
	const char	*raw;
	const char	*enc;
} vec[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static const char *const bad[] = {
	"Zg=", "Zg", "Z===", "Zm9v\r\n", "Zm 9v", "Zg==Zg==", "=Zm9", "Zm=v",
	"Zm9*", "Zm9v====",
};

int
main(void)
{
	char	enc[64];
	uint8_t	dec[64], big[8];
	size_t	i;
	int	n;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = b64_encode((const uint8_t *)vec[i].raw,
		    strlen(vec[i].raw), enc, sizeof(enc));
		is_str(enc, vec[i].enc, "encode \"%s\"", vec[i].raw);
		n = b64_decode(vec[i].enc, strlen(vec[i].enc), dec,
		    sizeof(dec));
		ok(n == (int)strlen(vec[i].raw) && memcmp(dec, vec[i].raw,
		    (size_t)n) == 0, "decode \"%s\"", vec[i].enc);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)), -1,
		    "refused: \"%s\"", bad[i]);
	is_int(b64_decode("Zm9vYmFyZm9v", 12, big, sizeof(big)), -1,
	    "refused: does not fit");
	is_int(b64_decode("Zm9vYmE=", 8, big, 5), 5, "fits exactly");
	is_int(b64_encode((const uint8_t *)"foobar", 6, enc, 8), -1,
	    "encode: no room for the NUL");
	n = b64_decode("AGFsaWNlAHB3", 12, dec, sizeof(dec));
	ok(n == 9 && memcmp(dec, "\0alice\0pw", 9) == 0,
	    "PLAIN's NULs come through");
	return done_testing();
}
