/*
 * Messages of the Redis policy store (78x), between policyd and the
 * parent.  policyd may open no socket (its seccomp filter): it names a
 * node by its number in policy_store.redis, never by address, and the
 * parent connects to that configured node only.
 *
 *   policyd                        parent
 *   M_RD_OPEN        ->            u32 node: 0 .. nsentinels - 1 are
 *                                  the sentinels, then the servers
 *                    <-  M_RD_OPENED  u8 ok, str why ("" when ok); the
 *                                  connected socket when ok
 *
 * peerid is policyd's request.  The configuration of the store is fixed
 * at start (a reload keeps it), so a node's number always means the
 * same address.
 */
#ifndef RELAYD_MSG_REDIS_H
#define RELAYD_MSG_REDIS_H

enum msg_redis {
	M_RD_OPEN = 780,
	M_RD_OPENED,
	M_RD_MAX
};

#endif
