/*
 * key_sign: keyd's keys, and what it checks before it signs (keyd.h).
 *
 * Pure, apart from OpenSSL: regress/unit/key_sign.c drives it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config.h"
#include "keyd.h"

void
key_set_free(struct key_set *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks->keys);
	ks->keys = NULL;
	ks->n = 0;
}

int
key_id(EVP_PKEY *pkey, uint8_t id[K_KEY_ID_LEN])
{
	unsigned char	*der = NULL;
	unsigned int	 mdlen = 0;
	int		 len, rv = -1;

	if ((len = i2d_PUBKEY(pkey, &der)) > 0 &&
	    EVP_Digest(der, (size_t)len, id, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == K_KEY_ID_LEN)
		rv = 0;
	OPENSSL_free(der);
	return rv;
}

/* The keys of a configuration; -1 with why, and ks left empty. */
int
key_set_load(struct key_set *ks, const struct conf *conf, char *why,
    size_t whysz)
{
	const struct tls_cert	*tc;
	struct key_entry	*k;
	const unsigned char	*p;
	size_t			 i;

	memset(ks, 0, sizeof(*ks));
	if (conf->tls.ncerts == 0)
		return 0;
	if ((ks->keys = calloc(conf->tls.ncerts, sizeof(*ks->keys))) ==
	    NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	for (i = 0; i < conf->tls.ncerts; i++) {
		tc = &conf->tls.certs[i];
		k = &ks->keys[ks->n];
		snprintf(k->owner, sizeof(k->owner), "%s", tc->tenant ?
		    tc->tenant : "relay");
		p = tc->key.p;
		if ((k->pkey = d2i_AutoPrivateKey(NULL, &p,
		    (long)tc->key.len)) == NULL) {
			snprintf(why, whysz, "the key of %s cannot be decoded",
			    k->owner);
			goto fail;
		}
		ks->n++;
		switch (EVP_PKEY_get_base_id(k->pkey)) {
		case EVP_PKEY_RSA:
			k->alg = K_ALG_RSA;
			break;
		case EVP_PKEY_EC:
			k->alg = K_ALG_ECDSA;
			break;
		default:
			snprintf(why, whysz, "the key of %s is neither RSA nor "
			    "ECDSA", k->owner);
			goto fail;
		}
		if (EVP_PKEY_get_size(k->pkey) > K_SIG_MAX ||
		    key_id(k->pkey, k->id) == -1) {
			snprintf(why, whysz, "the key of %s cannot be used",
			    k->owner);
			goto fail;
		}
	}
	return 0;
fail:
	ERR_clear_error();
	key_set_free(ks);
	return -1;
}

const struct key_entry *
key_find(const struct key_set *ks, const uint8_t id[K_KEY_ID_LEN])
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (memcmp(ks->keys[i].id, id, K_KEY_ID_LEN) == 0)
			return &ks->keys[i];
	return NULL;
}

/*
 * The DigestInfo of RFC 8017 9.2, note 1, for the hashes TLS 1.2 signs
 * with: the DER before the hash, and the hash's length.
 */
static const struct {
	uint8_t	prefix[19];
	size_t	plen;
	size_t	hlen;
} digest_infos[] = {
	{ { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a,
	    0x05, 0x00, 0x04, 0x14 }, 15, 20 },			/* SHA-1 */
	{ { 0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	    0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c }, 19, 28 },
	{ { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	    0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 }, 19, 32 },
	{ { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	    0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 }, 19, 48 },
	{ { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	    0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 }, 19, 64 },
};

static int
digest_info_ok(const uint8_t *in, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(digest_infos) / sizeof(digest_infos[0]); i++)
		if (len == digest_infos[i].plen + digest_infos[i].hlen &&
		    memcmp(in, digest_infos[i].prefix, digest_infos[i].plen) ==
		    0)
			return 1;
	return 0;
}

/* MGF1 (RFC 8017 B.2.1): mask of len octets from seed. */
static int
mgf1(uint8_t *mask, size_t len, const uint8_t *seed, size_t slen,
    const EVP_MD *md)
{
	EVP_MD_CTX	*ctx;
	uint8_t		 ctr[4], h[EVP_MAX_MD_SIZE];
	unsigned int	 hl;
	uint32_t	 i;
	size_t		 off = 0, take;
	int		 rv = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	for (i = 0; off < len; i++) {
		ctr[0] = (uint8_t)(i >> 24);
		ctr[1] = (uint8_t)(i >> 16);
		ctr[2] = (uint8_t)(i >> 8);
		ctr[3] = (uint8_t)i;
		if (!EVP_DigestInit_ex(ctx, md, NULL) ||
		    !EVP_DigestUpdate(ctx, seed, slen) ||
		    !EVP_DigestUpdate(ctx, ctr, sizeof(ctr)) ||
		    !EVP_DigestFinal_ex(ctx, h, &hl))
			goto done;
		take = len - off < hl ? len - off : hl;
		memcpy(mask + off, h, take);
		off += take;
	}
	rv = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rv;
}

/*
 * Is em, k octets for a modulus of modbits, an EMSA-PSS encoding (RFC
 * 8017 9.1.1) with MGF1 of md and a salt as long as md's hash, as TLS
 * makes them (RFC 8446 4.2.3)?  The hash inside cannot be checked, only
 * the form around it: the block is no number smtpd chose.
 */
static int
pss_form(const uint8_t *em, size_t k, int modbits, const EVP_MD *md)
{
	uint8_t		 db[K_INPUT_MAX];
	size_t		 embits = (size_t)modbits - 1;
	size_t		 emlen = (embits + 7) / 8, hlen, dblen, i;
	unsigned	 top = (unsigned)(8 * emlen - embits);

	hlen = (size_t)EVP_MD_get_size(md);
	if (emlen > k || k - emlen > 1 || emlen < 2 * hlen + 2)
		return 0;
	if (k > emlen && *em++ != 0)
		return 0;
	if (em[emlen - 1] != 0xbc || (top > 0 && (em[0] >> (8 - top)) != 0))
		return 0;
	dblen = emlen - hlen - 1;
	if (dblen > sizeof(db) || mgf1(db, dblen, em + dblen, hlen, md) == -1)
		return 0;
	for (i = 0; i < dblen; i++)
		db[i] ^= em[i];
	if (top > 0)
		db[0] &= (uint8_t)(0xff >> top);
	/* PS, zeros; 0x01; then the salt, hlen octets. */
	for (i = 0; i < dblen - hlen - 1; i++)
		if (db[i] != 0)
			return 0;
	return db[i] == 0x01;
}

static int
pss_ok(const uint8_t *em, size_t k, int modbits)
{
	return pss_form(em, k, modbits, EVP_sha256()) ||
	    pss_form(em, k, modbits, EVP_sha384()) ||
	    pss_form(em, k, modbits, EVP_sha512());
}

const char *
key_check(const struct key_entry *k, const struct key_req *rq)
{
	size_t size = (size_t)EVP_PKEY_get_size(k->pkey);

	if (rq->alg != k->alg)
		return "the key is not of the kind asked";
	if (rq->alg == K_ALG_ECDSA) {
		if (rq->pad != 0)
			return "ECDSA takes no padding";
		if (rq->inlen != 20 && rq->inlen != 28 && rq->inlen != 32 &&
		    rq->inlen != 48 && rq->inlen != 64)
			return "the input is not as long as a hash";
		return NULL;
	}
	switch (rq->pad) {
	case K_PAD_PKCS1:
		if (rq->inlen + 11 > size || !digest_info_ok(rq->in,
		    rq->inlen))
			return "the input is not a DigestInfo of SHA-1 or "
			    "SHA-2";
		return NULL;
	case K_PAD_NONE:
		if (rq->inlen != size || !pss_ok(rq->in, rq->inlen,
		    EVP_PKEY_get_bits(k->pkey)))
			return "the input is not an EMSA-PSS block";
		return NULL;
	default:
		return "a padding keyd does not allow";
	}
}

int
key_sign(const struct key_entry *k, const struct key_req *rq, uint8_t *sig,
    size_t sigsz)
{
	EVP_PKEY_CTX	*ctx;
	size_t		 len = sigsz;
	int		 rv = -1;

	if ((ctx = EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL)
		return -1;
	if (EVP_PKEY_sign_init(ctx) <= 0)
		goto done;
	if (k->alg == K_ALG_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx,
	    rq->pad == K_PAD_PKCS1 ? RSA_PKCS1_PADDING : RSA_NO_PADDING) <= 0)
		goto done;
	if (EVP_PKEY_sign(ctx, sig, &len, rq->in, rq->inlen) <= 0 ||
	    len > sigsz)
		goto done;
	rv = (int)len;
done:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return rv;
}
