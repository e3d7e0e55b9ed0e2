/*
 * dns_client: the stub every process that needs DNS uses to ask dnsd,
 * the only process that speaks DNS.  Requests are parked by id until the
 * answer comes; dnsd always answers (a time-out is a TEMPFAIL).
 */
#ifndef RELAYD_DNS_CLIENT_H
#define RELAYD_DNS_CLIENT_H

#include <stdint.h>

#include "dns_parse.h"
#include "imsg.h"

struct child;
struct dns_client;

typedef void (*dns_cb)(void *arg, const struct dns_answer *);

struct dns_client *dns_client_new(struct child *);
/* Ask; the callback runs later, never from inside this call. */
uint64_t dns_lookup(struct dns_client *, uint32_t qtype, const char *name,
	    dns_cb, void *arg);
/* Forget a request: its callback will not run. */
void	 dns_cancel(struct dns_client *, uint64_t id);
void	 dns_client_dispatch(struct dns_client *, struct imsg *);
size_t	 dns_client_pending(const struct dns_client *);

/* Encode and decode an answer payload (dnsd and the stub). */
struct mw;
int	 dns_answer_encode(const struct dns_answer *, uint32_t qtype,
	    struct mw *);
int	 dns_answer_decode(const void *, size_t, uint32_t qtype,
	    struct dns_answer *);

#endif
