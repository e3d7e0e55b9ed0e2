/*
 * keyd: the private keys of the certificates smtpd offers, and the one
 * operation smtpd needs them for, in a process of their own, as
 * OpenSMTPD's "ca" process does.  smtpd holds certificates and public
 * keys only; the handshake's signature (RSA or ECDSA) is made here, on
 * request, so that a hole in smtpd, which parses what the network sends,
 * does not give away the keys.
 *
 * Protocol: msg_key.h.  The keys come from the parent with each
 * configuration (SLICE_TLS_KEYS, config/config_tls.c), each named by the
 * SHA-256 of its public key; the keys of the configuration before stay
 * until the next one, for the handshakes smtpd began under it.
 *
 * A request is checked before any key is used (key_sign.c): the key must
 * be one we hold and of the kind asked; an RSA PKCS#1 input must be a
 * DigestInfo of SHA-1 or SHA-2, an RSA input without padding must be an
 * EMSA-PSS block (RFC 8017 9.1) whose salt is as long as its hash, as
 * TLS makes them, and an ECDSA input as long as a hash.  So smtpd, lying,
 * can have signatures made, as it could of any TLS server; it cannot
 * have a block deciphered, or a key read.
 *
 * Parameters: none of its own.  Runs as relayd-key in the empty root,
 * with the smallest seccomp filter of all.
 *
 * BUGS: one request at a time; a slow signature (an RSA key of 8192
 * bits) holds up every handshake behind it.
 */
#ifndef RELAYD_KEYD_H
#define RELAYD_KEYD_H

#include <stddef.h>
#include <stdint.h>

#include "msg_key.h"

struct child;
struct conf;
struct evp_pkey_st;

struct key_entry {
	uint8_t			 id[K_KEY_ID_LEN];
	struct evp_pkey_st	*pkey;
	int			 alg;		/* K_ALG_* */
	char			 owner[72];	/* "relay" or the tenant */
};

/* The keys of one configuration. */
struct key_set {
	struct key_entry	*keys;
	size_t			 n;
};

struct key_req {
	uint8_t			 id[K_KEY_ID_LEN];
	uint8_t			 alg;
	uint8_t			 pad;
	const uint8_t		*in;
	size_t			 inlen;
};

struct keyd {
	struct child		*child;
	struct key_set		 cur;
	struct key_set		 prev;		/* the configuration before */
	uint64_t		 signed_n;
	uint64_t		 refused;
};

/* key_sign.c */
int	 key_set_load(struct key_set *, const struct conf *, char *why,
	    size_t whysz);
void	 key_set_free(struct key_set *);
const struct key_entry *key_find(const struct key_set *,
	    const uint8_t id[K_KEY_ID_LEN]);
/* The id of a public key: SHA-256 of its DER SubjectPublicKeyInfo. */
int	 key_id(struct evp_pkey_st *, uint8_t id[K_KEY_ID_LEN]);
/* Check a request against the key; NULL when it may be signed. */
const char *key_check(const struct key_entry *, const struct key_req *);
/* Sign a checked request: the signature's length, or -1. */
int	 key_sign(const struct key_entry *, const struct key_req *,
	    uint8_t *sig, size_t sigsz);

#endif
