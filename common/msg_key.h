/*
 * Messages between smtpd and keyd (6xx).  peerid is smtpd's request id,
 * which grows by one with each request.
 *
 *   smtpd                                keyd
 *   M_K_SIGN    data[32] key, u8 alg, u8 padding, data input
 *                         ->
 *               <-  M_K_SIGNED  u8 ok, data signature ("" when refused)
 *
 * key names the private key by the SHA-256 of its public key (the DER
 * SubjectPublicKeyInfo of the certificate smtpd offers), so that a
 * request made under one configuration is answered with the same key
 * under the next.  alg is K_ALG_RSA or K_ALG_ECDSA; padding, for RSA,
 * K_PAD_PKCS1 (input: a DigestInfo, TLS 1.2's RSASSA-PKCS1-v1_5) or
 * K_PAD_NONE (input: a whole EMSA-PSS block, TLS 1.3's and TLS 1.2's
 * RSASSA-PSS), and 0 for ECDSA (input: the digest).
 *
 * smtpd asks one thing at a time and waits for the answer (a TLS
 * handshake cannot go on without it), so keyd answers each request once,
 * in order, and sends nothing else.  A request keyd refuses (a key it
 * does not hold, an input that is not what the padding says) is answered
 * with ok 0; a malformed one is fatal, as on every channel.
 */
#ifndef RELAYD_MSG_KEY_H
#define RELAYD_MSG_KEY_H

enum msg_key {
	M_K_SIGN = 650,
	M_K_SIGNED,
	M_K_MAX
};

#define K_KEY_ID_LEN	32	/* SHA-256 of the public key */
#define K_INPUT_MAX	1024	/* an RSA block of 8192 bits */
#define K_SIG_MAX	1024

enum key_alg {
	K_ALG_RSA = 1,
	K_ALG_ECDSA = 2
};

enum key_pad {
	K_PAD_PKCS1 = 1,
	K_PAD_NONE = 2
};

#endif
