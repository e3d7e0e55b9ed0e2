/*
 * Messages of the connections the parent opens for policyd (85x).
 *
 * policyd may open no socket (its seccomp filter has no socket call); it
 * names what it wants by kind, tenant and number in that tenant's list,
 * never by address, and the parent connects to the endpoint its own
 * configuration gives for them, and to nothing else (endpoint.h).
 *
 *   policyd                        parent
 *   M_PC_CONNECT      ->           connects, non-blocking, bounded in
 *                                  time and in number
 *                     <-  M_PC_CONNECTED + the socket | a reason
 *
 * M_PC_CONNECT    peerid: policyd's request; u8 kind (PC_KIND_*), str
 *                 tenant, u32 index (in the tenant's list of that kind;
 *                 0 for its one Dovecot)
 * M_PC_CONNECTED  peerid as asked; u8 PC_OK | PC_FAIL | PC_STALE, str
 *                 why ("" with PC_OK and PC_STALE); the connected
 *                 socket with PC_OK
 *
 * A tenant or number the parent's configuration does not have (a reload
 * crossed the request) is answered PC_STALE, not guessed at; a kind the
 * child may not ask for is the child's fatal error.  The parent does not
 * wait for the connection: the socket goes as soon as connect(2) has
 * started, and policyd bounds the time it takes.
 */
#ifndef RELAYD_MSG_CONNECT_H
#define RELAYD_MSG_CONNECT_H

enum msg_connect {
	M_PC_CONNECT = 850,
	M_PC_CONNECTED,
	M_PC_MAX
};

/* What is connected to, and the configuration table that lists it. */
enum pc_kind {
	PC_KIND_DOVECOT = 1,	/* the tenant's auth.dovecot */
	PC_KIND_MAX
};

/* M_PC_CONNECTED */
#define PC_FAIL		0
#define PC_OK		1
#define PC_STALE	2

#endif
