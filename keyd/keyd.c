/*
 * keyd: process set-up, its keys from each configuration, and smtpd's
 * requests (keyd.h, msg_key.h).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "child.h"
#include "keyd.h"
#include "log.h"
#include "metrics.h"
#include "marshal.h"

static struct keyd keyd;

/* The request as smtpd sent it; a frame that is not one is fatal. */
static void
read_req(struct child *c, struct imsg *imsg, struct key_req *rq)
{
	struct mr	 r;
	const void	*id;
	size_t		 len;

	mr_init(&r, imsg->data, imsg->datalen);
	id = mr_data(&r, &len);
	if (id == NULL || len != K_KEY_ID_LEN)
		child_peer_broken(c, PROC_SMTPD, imsg, "key id");
	memcpy(rq->id, id, K_KEY_ID_LEN);
	rq->alg = mr_u8(&r);
	rq->pad = mr_u8(&r);
	rq->in = mr_data(&r, &rq->inlen);
	if (rq->in == NULL || mr_end(&r) == -1)
		child_peer_broken(c, PROC_SMTPD, imsg, "sign request");
}

static void
answer(struct child *c, uint64_t peerid, const uint8_t *sig, size_t len)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, sig != NULL);
	mw_data(&w, sig, len);
	child_send(c, PROC_SMTPD, M_K_SIGNED, peerid, -1, w.buf, w.len);
}

/* One request, one answer: a signature, or a refusal and why, logged. */
static void
on_sign(struct keyd *kd, struct imsg *imsg)
{
	const struct key_entry	*k;
	struct key_req		 rq;
	const char		*why;
	uint8_t			 sig[K_SIG_MAX];
	int			 n = -1;

	read_req(kd->child, imsg, &rq);
	if ((k = key_find(&kd->cur, rq.id)) == NULL)
		k = key_find(&kd->prev, rq.id);
	if (k == NULL)
		why = "no such key";
	else if ((why = key_check(k, &rq)) == NULL &&
	    (n = key_sign(k, &rq, sig, sizeof(sig))) == -1)
		why = "the signature failed";
	if (why != NULL) {
		kd->refused++;
		log_warnx("refused a signature for smtpd (request %llu, key "
		    "of %s): %s", (unsigned long long)imsg->hdr.peerid,
		    k != NULL ? k->owner : "none", why);
		answer(kd->child, imsg->hdr.peerid, NULL, 0);
		return;
	}
	kd->signed_n++;
	answer(kd->child, imsg->hdr.peerid, sig, (size_t)n);
	explicit_bzero(sig, sizeof(sig));
}

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	struct keyd *kd = c->state;

	if (imsg_has_fd(imsg)) {
		if (imsg->fd != -1)
			close(imsg->fd);
		child_peer_broken(c, PROC_SMTPD, imsg, "unexpected descriptor");
	}
	if (imsg->hdr.type != M_K_SIGN)
		child_peer_broken(c, PROC_SMTPD, imsg, "unknown type");
	on_sign(kd, imsg);
}

/*
 * The new keys, and the previous ones kept for the handshakes smtpd
 * started before it had the new certificates.  The parent checked every
 * key; one that cannot be used here is a broken parent.
 */
static void
keyd_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct keyd	*kd = c->state;
	struct key_set	 ks;
	char		 why[128];

	(void)old;
	if (key_set_load(&ks, conf, why, sizeof(why)) == -1)
		fatalx("configuration: %s", why);
	key_set_free(&kd->prev);
	kd->prev = kd->cur;
	kd->cur = ks;
	log_info("holding %zu key%s", ks.n, ks.n == 1 ? "" : "s");
}

static void
keyd_status(struct child *c, char *buf, size_t sz)
{
	struct keyd *kd = c->state;

	snprintf(buf, sz, "running, %zu keys, %llu signatures, %llu refused",
	    kd->cur.n, (unsigned long long)kd->signed_n,
	    (unsigned long long)kd->refused);
}

/* OpenSSL reads its configuration now, before the chroot. */
static void
keyd_preload(struct child *c)
{
	(void)c;
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OpenSSL: %s", ERR_reason_error_string(
		    ERR_get_error()));
}

static void
keyd_init(struct child *c)
{
	struct keyd *kd = c->state;

	kd->child = c;
}

static void
keyd_shutdown(struct child *c)
{
	struct keyd *kd = c->state;

	key_set_free(&kd->cur);
	key_set_free(&kd->prev);
}

/* Its samples for a metrics scrape (metrics.h). */
static void
keyd_metrics(struct child *c, struct mx_out *o)
{
	struct keyd *kd = c->state;

	mx_add1(o, MXF_KEYD_SIGNATURES, "result", "ok", kd->signed_n);
	mx_add1(o, MXF_KEYD_SIGNATURES, "result", "refused", kd->refused);
}

static const struct child_ops keyd_ops = {
	.id = PROC_KEYD,
	.preload = keyd_preload,
	.init = keyd_init,
	.conf = keyd_conf,
	.status = keyd_status,
	.metrics = keyd_metrics,
	.shutdown = keyd_shutdown,
	.dispatch = {
		[PROC_SMTPD] = from_smtpd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &keyd_ops, &keyd);
}
