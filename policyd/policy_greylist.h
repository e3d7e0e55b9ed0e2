/*
 * policy_greylist: greylisting (policy_greylist.c), its keys, its
 * decision and its whitelists, apart from how the store is reached.
 */
#ifndef RELAYD_POLICY_GREYLIST_H
#define RELAYD_POLICY_GREYLIST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "netaddr.h"
#include "policy_store.h"

#define GREY_ID_MAX	260	/* an identity: a network or a domain */
#define GREY_SENDER_MAX	330

/* A triplet's entry (PDB_GREYLIST). */
struct grey_entry {
	int64_t		 expiry;
	int64_t		 first;		/* the first attempt of this try */
	int64_t		 passed;	/* 0 until a retry passed */
	int64_t		 renewed;	/* the lifetime, last renewed */
	char		 tenant[TENANT_MAX + 1];
};

/* A client's passes (PDB_AWL). */
struct awl_entry {
	int64_t		 expiry;
	uint32_t	 passes;
	int64_t		 counted;	/* the last pass counted */
};

/* Who the client is for greylisting, in a key and for the log. */
struct grey_id {
	uint8_t		 raw[GREY_ID_MAX];
	size_t		 len;
	char		 text[GREY_ID_MAX];
};

enum grey_result {
	GREY_PASS,
	GREY_DEFER
};

struct grey_decision {
	enum grey_result result;
	const char	*why;		/* for the log */
	uint32_t	 retry_in;	/* seconds, GREY_DEFER */
	int		 put_triplet;
	struct grey_entry triplet;
	int		 put_awl;
	struct awl_entry awl;
};

/*
 * The client's identity: the sender's domain when SPF passed for it
 * (spf_domain not NULL), else its /24 or /64.
 */
void	 grey_identity(const struct netaddr *, const char *spf_domain,
	    struct grey_id *);
/* BATV, SRS and VERP-style numbers undone, lower case. */
void	 grey_normalize_sender(const char *, char *, size_t);
void	 grey_triplet_key(const uint8_t secret[CONF_SECRET_LEN],
	    const struct grey_id *, const char *sender, const char *rcpt,
	    struct pstore_key *);
void	 grey_awl_key(const uint8_t secret[CONF_SECRET_LEN],
	    const struct grey_id *, struct pstore_key *);
/* A client's address, exactly, for the pregreet results. */
void	 grey_pregreet_key(const uint8_t secret[CONF_SECRET_LEN],
	    const struct netaddr *, struct pstore_key *);

/* The decision from what the store holds (found or not) at now. */
void	 grey_decide(const struct policy_conf *, const char *tenant,
	    const struct pstore_val *triplet, const struct pstore_val *awl,
	    int64_t now, struct grey_decision *);

size_t	 grey_entry_encode(const struct grey_entry *, uint8_t *, size_t);
int	 grey_entry_decode(const uint8_t *, size_t, struct grey_entry *);
size_t	 awl_entry_encode(const struct awl_entry *, uint8_t *, size_t);
int	 awl_entry_decode(const uint8_t *, size_t, struct awl_entry *);

/*
 * The whitelist relayctl adds to (PDB_WHITELIST, in clear: the operator's
 * own entries), held in memory, and the tenant's own.
 */
struct grey_wl;
struct grey_wl *grey_wl_new(void);
void	 grey_wl_free(struct grey_wl *);
/* "192.0.2.1", "198.51.100.0/24", "2001:db8::/48" or "example.org". */
int	 grey_wl_add(struct grey_wl *, const char *, char *err, size_t);
int	 grey_wl_parse(const char *, struct cidr *, char *domain, size_t);
size_t	 grey_wl_count(const struct grey_wl *);
/* The i-th entry as text: 0, or -1 past the last. */
int	 grey_wl_entry(const struct grey_wl *, size_t, char *, size_t);
/* Is the client or the (SPF-passed) sender domain listed? */
const char *grey_whitelisted(const struct grey_wl *, const struct policy_conf *,
	    const struct netaddr *, const char *spf_domain);

#endif
