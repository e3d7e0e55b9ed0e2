/*
 * policy_control: relayctl's greylist commands, and the whitelist they
 * keep in the store (PDB_WHITELIST: the operator's entries, in clear,
 * the key the entry's text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "policy_greylist.h"
#include "policy_store.h"
#include "policyd.h"

#define WL_WALK		4096	/* entries read in one step */
#define WL_FOREVER	((int64_t)1 << 62)

struct wl_walk {
	struct policyd	*pd;
	size_t		 bad;
};

static void
wl_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen)
{
	struct wl_walk	*w = arg;
	char		 text[PDB_KEY_MAX + 1], err[128];

	(void)val;
	(void)vlen;
	if (klen == 0 || klen > PDB_KEY_MAX) {
		w->bad++;
		return;
	}
	memcpy(text, key, klen);
	text[klen] = '\0';
	if (grey_wl_add(w->pd->whitelist, text, err, sizeof(err)) == -1)
		w->bad++;
}

/*
 * The whitelist, read once the store can be read; until then the
 * tenants' own whitelists still apply, and greylisting is the cautious
 * default for everyone else.
 */
void
whitelist_load(struct policyd *pd)
{
	struct wl_walk	w = { pd, 0 };
	uint8_t		at[PDB_KEY_MAX];
	size_t		atlen = 0;
	int		rv;

	while ((rv = pstore_walk(pd->store, PDB_WHITELIST, at, &atlen,
	    WL_WALK, wl_entry, &w)) == 1)
		;
	if (rv == -1)
		return;
	pd->wl_loaded = 1;
	if (w.bad > 0)
		log_warnx("greylist whitelist: %zu entries in the store are "
		    "not addresses, networks or domains; ignored", w.bad);
	log_debug("greylist whitelist: %zu entries",
	    grey_wl_count(pd->whitelist));
}

/* relayctl greylist whitelist ADDR|NET|DOMAIN: 0, or -1 with err. */
int
whitelist_add(struct policyd *pd, const char *text, char *err, size_t errsz)
{
	struct pstore_key	k;
	uint8_t			val[PDB_EXPIRY_LEN];
	size_t			n = strlen(text);

	if (n == 0 || n > PDB_KEY_MAX) {
		snprintf(err, errsz, "not an address, network or domain");
		return -1;
	}
	if (!pd->wl_loaded)
		whitelist_load(pd);
	if (grey_wl_add(pd->whitelist, text, err, errsz) == -1)
		return -1;
	memset(&k, 0, sizeof(k));
	k.db = PDB_WHITELIST;
	k.len = (uint8_t)n;
	memcpy(k.key, text, n);
	pstore_put_expiry(val, WL_FOREVER);
	pstore_put(pd->store, &k, val, sizeof(val));
	log_info("greylist whitelist: %s added", text);
	return 0;
}

/* relayctl greylist flush: every triplet and auto-whitelisted client. */
void
greylist_flush(struct policyd *pd)
{
	pstore_flush(pd->store, PDB_GREYLIST);
	pstore_flush(pd->store, PDB_AWL);
	log_info("greylist: flushed (triplets and auto-whitelisted clients)");
}
