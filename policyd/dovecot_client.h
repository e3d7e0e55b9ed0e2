/*
 * dovecot_client: one authentication against Dovecot's auth-client
 * protocol (version 1.2) over a socket the parent connected for us.
 *
 *   us:  VERSION 1 2, CPID pid
 *   it:  VERSION 1 x, MECH lines, SPID, CUID, COOKIE, DONE
 *   us:  AUTH id PLAIN service=smtp secured rip= lip= resp=base64
 *   it:  OK id user=... | FAIL id [temp] ... | CONT (not for PLAIN)
 *
 * LOGIN from our clients is sent as PLAIN: Dovecot sees one mechanism.
 * The protocol is plaintext: the socket must be a trusted path.
 */
#ifndef RELAYD_DOVECOT_CLIENT_H
#define RELAYD_DOVECOT_CLIENT_H

#include <stdint.h>

struct event_base;
struct dovecot_req;

enum dovecot_result {
	DV_OK,			/* the password is right */
	DV_FAIL,		/* it is not, or the user is unknown */
	DV_TEMP			/* unreachable, failing, or too slow */
};

struct dovecot_ask {
	const char	*user;
	const char	*pass;
	const char	*rip;		/* the client's address, text */
	const char	*lip;		/* ours */
};

/* The outcome, and Dovecot's text for the log (never the password). */
typedef void (*dovecot_cb)(void *arg, enum dovecot_result, const char *why);

/* Takes fd; copies what it needs from ask (the password, to wipe). */
struct dovecot_req *dovecot_auth(struct event_base *, int fd,
	    const struct dovecot_ask *, unsigned timeout, dovecot_cb, void *);
/* The callback is not called. */
void	 dovecot_cancel(struct dovecot_req *);

#endif
