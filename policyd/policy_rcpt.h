/*
 * policy_rcpt: does the recipient exist?  For tenants with
 * recipients.verify callout or learn, the first check of a recipient's
 * verdict (policy_session.c), before rates, DNS lists and greylisting.
 *
 * callout: an answer cached in the store (PDB_CALLOUT: accepted for
 * callout.positive, unknown for callout.negative) decides; else deliverd
 * asks the tenant's servers (msg_callout.h), one callout for however many
 * sessions wait for the same address.  Accepted: pass, cached, learned.
 * Unknown: 450 4.1.1 (on_unknown: defer) or 550 5.1.1 (reject), cached.
 * Failed: a learned recipient passes, any other gets 451 4.4.3.
 *
 * learn: a learned recipient passes.  Any other gets 451 4.4.3 while the
 * tenant's servers are down (as deliveries found them), and while the
 * tenant is younger than learning_period with nothing learned; else it
 * passes, and its server decides at delivery.
 *
 * Learned recipients (PDB_RECIPIENTS) are those the tenant's servers
 * accepted, in a callout or in a delivery: the key is the tenant's name,
 * a NUL and the address in lower case without its delimiter's extension,
 * in clear so that operators can list them; the key that is the tenant's
 * name and a NUL alone holds when policyd first saw the tenant.  A
 * learned recipient no delivery or callout confirms for LEARN_LIFETIME
 * is forgotten.
 */
#ifndef RELAYD_POLICY_RCPT_H
#define RELAYD_POLICY_RCPT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "msg_callout.h"

struct imsg;
struct policyd;
struct pstore_req;
struct tenant_conf;
struct co_pending;

#define LEARN_LIFETIME	(90 * 86400)	/* unconfirmed this long: gone */
#define LEARN_REFRESH	86400		/* confirmations written at most */

enum rc_state {
	RC_NONE,
	RC_WAIT,		/* for the store, or a callout */
	RC_DONE
};

/* One recipient's check, held by its question. */
struct rcpt_check {
	enum rc_state		 state;
	struct pstore_req	*req;		/* the store's answer, if out */
	void			*get;
	struct co_pending	*co;		/* the callout waited for */
	TAILQ_ENTRY(rcpt_check)	 entry;		/* its waiters */
	void			(*wake)(void *);
	void			*arg;
	int			 learned;	/* found learned */
	char			 tenant[TENANT_MAX + 1];
	char			 addr[CALLOUT_ADDR_MAX];	/* as asked */
	/* the outcome */
	int			 code;		/* 0: pass */
	const char		*enh;
	char			 text[320];
	char			 fact[400];
};

/*
 * 0 when decided (rc->code, ->enh, ->text, ->fact), 1 while waiting:
 * wake(arg) runs when it may be asked again.
 */
int	 rcpt_check(struct policyd *, struct rcpt_check *,
	    const struct tenant_conf *, const char *addr,
	    void (*wake)(void *), void *arg);
void	 rcpt_check_cancel(struct rcpt_check *);
/* deliverd's messages (msg_callout.h). */
void	 rcpt_dispatch(struct policyd *, struct imsg *);
void	 rcpt_free_all(struct policyd *);
size_t	 rcpt_callouts(const struct policyd *);

/* The learned key of an address: its length, 0 if it cannot be one. */
size_t	 rcpt_learned_key(const struct tenant_conf *, const char *addr,
	    uint8_t *key, size_t sz);
/* relayctl recipients forget: what the store holds of it goes. */
int	 rcpt_forget(struct policyd *, const struct tenant_conf *,
	    const char *addr);
/* A learned entry in words, for show recipients: -1 if it is not one. */
int	 rcpt_entry_format(const uint8_t *key, size_t klen,
	    const uint8_t *val, size_t vlen, char *buf, size_t sz);
/* The tenant's own entry: when policyd first saw it (0: not yet). */
int64_t	 rcpt_first_seen(const uint8_t *val, size_t vlen);
/* Are the tenant's servers down, as deliveries found them?  Since when. */
int64_t	 rcpt_down_since(const struct policyd *, const char *tenant);

#endif
