/*
 * smtp_limits: connections per client (an IPv4 address or an IPv6 /64).
 */
#include <stdlib.h>

#include "smtpd.h"

int
client_cmp(struct client_count *a, struct client_count *b)
{
	return a->key < b->key ? -1 : a->key > b->key;
}

RB_GENERATE(client_tree, client_count, entry, client_cmp)

/* Count one more connection; -1 when over the limit or out of memory. */
int
limits_client_add(struct smtpd *sd, uint64_t key)
{
	struct client_count find, *c;

	find.key = key;
	if ((c = RB_FIND(client_tree, &sd->clients, &find)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -1;
		c->key = key;
		RB_INSERT(client_tree, &sd->clients, c);
	}
	if (c->n >= sd->conf->limits.max_connections_per_client) {
		if (c->n == 0) {
			RB_REMOVE(client_tree, &sd->clients, c);
			free(c);
		}
		return -1;
	}
	c->n++;
	return 0;
}

void
limits_client_del(struct smtpd *sd, uint64_t key)
{
	struct client_count find, *c;

	find.key = key;
	if ((c = RB_FIND(client_tree, &sd->clients, &find)) == NULL)
		return;
	if (--c->n == 0) {
		RB_REMOVE(client_tree, &sd->clients, c);
		free(c);
	}
}
