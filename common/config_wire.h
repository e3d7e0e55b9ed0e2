/*
 * config_wire: a configuration slice over a channel, and its assembly.
 *
 * The parent sends M_CONF_BEGIN, the slices the child's proc_desc names,
 * and M_CONF_END; lists too long for one frame (recipients, domains) go in
 * chunks.  The child rebuilds a struct conf holding just its slice and
 * answers M_CONF_ACK once it is in force, or M_CONF_FAIL when a
 * listener's socket did not reach it (it was out of descriptors).
 */
#ifndef RELAYD_CONFIG_WIRE_H
#define RELAYD_CONFIG_WIRE_H

#include <stdint.h>

#include "config.h"
#include "imsg.h"

struct chan;

int	 conf_send(struct chan *, const struct conf *, unsigned slices,
	    uint32_t generation);

struct conf_rx {
	struct conf		*conf;	/* being assembled */
	struct tenant_conf	*cur;	/* tenant receiving lists */
	struct tls_cert		*cert;	/* certificate receiving its chain */
	uint32_t		 chain_left;	/* of its chain, to come */
	uint32_t		 gen;
	int			 lost;	/* a listener's socket was lost */
};

enum conf_rx_result {
	CONF_RX_MORE,
	CONF_RX_DONE,		/* *out is the new configuration */
	CONF_RX_ERROR,		/* the parent sent something malformed */
	CONF_RX_LOST		/* complete, but a listener's socket was
				   lost on the way: nothing to apply */
};

enum conf_rx_result conf_rx_msg(struct conf_rx *, struct imsg *,
	    struct conf **out, uint32_t *generation);
void	 conf_rx_reset(struct conf_rx *);

#endif
