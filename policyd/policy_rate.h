/*
 * policy_rate: per-client rates per minute and per-tenant daily volumes,
 * counted in policyd's memory (policy_rate.c).
 */
#ifndef RELAYD_POLICY_RATE_H
#define RELAYD_POLICY_RATE_H

#include <stdint.h>

#include "envelope.h"

enum rate_kind {
	RATE_CONNECT,
	RATE_MESSAGE,
	RATE_RECIPIENT,
	RATE_KINDS
};

struct rates;

struct rates	*rates_new(void);
void		 rates_free(struct rates *);
uint32_t	 rates_count(struct rates *, uint64_t client, enum rate_kind,
		    int64_t now);
void		 rates_sweep(struct rates *, int64_t now);
void		 rates_accepted(struct rates *, const char *tenant,
		    uint64_t octets, int64_t now);
void		 rates_volume(struct rates *, const char *tenant, int64_t now,
		    uint64_t *messages, uint64_t *octets);
int		 rates_limit_reached(struct rates *, const char *tenant,
		    int64_t now);

#endif
