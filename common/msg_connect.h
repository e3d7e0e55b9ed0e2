/*
 * Messages of the connections the parent opens for policyd (85x).
 *
 * policyd may open no socket (its seccomp filter has no socket call); it
 * names what it wants by kind and by its number in the configuration it
 * has, with that configuration's generation, never by address, and the
 * parent connects to that configured endpoint only (endpoint.h).
 *
 *   policyd                        parent
 *   M_PC_CONNECT      ->           connects, non-blocking, bounded in
 *                                  time and in number
 *                     <-  M_PC_CONNECTED + the socket | a reason
 *
 * M_PC_CONNECT    peerid: policyd's request; u32 generation, u8 kind
 *                 (PC_KIND_*), u32 endpoint (its index in the kind's
 *                 table of that generation)
 * M_PC_CONNECTED  peerid as asked; u8 PC_OK | PC_FAIL | PC_STALE, str
 *                 why ("" with PC_OK and PC_STALE); the connected
 *                 socket with PC_OK
 *
 * A number of another generation (a reload crossed the request) is
 * answered PC_STALE, not guessed at; a number the configuration does not
 * have, or a kind the child may not ask for, is the child's fatal error.
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
	PC_KIND_DOVECOT = 1,	/* conf->auth_eps: tenants' auth.dovecot */
	PC_KIND_MAX
};

/* M_PC_CONNECTED */
#define PC_FAIL		0
#define PC_OK		1
#define PC_STALE	2

#endif
