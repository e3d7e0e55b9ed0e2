/*
 * smtpd: the SMTP server.
 *
 * Protocol: RFC 5321 with PIPELINING (RFC 2920), SIZE (RFC 1870),
 * 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034/3463), SMTPUTF8
 * (RFC 6531), CHUNKING (RFC 3030), DSN (RFC 3461) and STARTTLS (RFC
 * 3207), or TLS from the start on smtps listeners (RFC 8314).  Thousands
 * of sessions in one libevent loop; an idle session holds its struct and
 * a bufferevent with empty buffers, and TLS state only once it asks for
 * TLS (smtp_tls.c).  The private keys are keyd's (smtp_tlskey.c).
 *
 * Relay authorisation is decided here, from the configuration slice,
 * without a round trip (smtp_relay.c).  Message bodies go straight into a
 * spool file whose descriptor queued passes us; at the end of data queued
 * syncs and commits, and only then is 250 sent (smtp_queue.c).  Every
 * reply's code and text is in smtp_reply.c; queued's refusals come from
 * queued/queue_reply.c and are passed on as they are.
 *
 * Parameters: listen, limits, timeouts, and each tenant's domains,
 * recipients and outbound networks (see relayd.yaml(5), relayd-tenant(5)).
 *
 * BUGS: the HELO/EHLO name is not checked against DNS, on purpose
 * (RFC 5321 section 4.1.4).  VRFY never discloses users.
 */
#ifndef RELAYD_SMTPD_H
#define RELAYD_SMTPD_H

#include <sys/tree.h>

#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "fdneed.h"
#include "fdpool.h"
#include "imsg.h"
#include "mailaddr.h"
#include "netaddr.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_relay.h"
#include "smtp_reply.h"
#include "stats.h"

struct child;
struct dns_client;
struct bufferevent;
struct evconnlistener;
struct evp_pkey_st;
struct imsg;
struct tls_server;
struct x509_st;

#define SMTP_LINE_BASE		512	/* RFC 5321 4.5.3.1.4, with CRLF */
#define SMTP_LINE_MAX		1100	/* the most any command may need */
#define SMTP_MAX_ERRORS		20	/* then 421 and close */
#define SMTP_RCPT_OVERSHOOT	1000	/* recipients over the limit that
					   are not errors (Postfix's) */
#define SMTP_OUT_HIGH		(64 * 1024)	/* stop reading above this */
#define SMTP_IN_HIGH		(256 * 1024)

struct listener {
	struct smtpd		*sd;
	struct evconnlistener	*lev;
	struct listener_conf	 lc;
};

struct client_count {
	RB_ENTRY(client_count)	 entry;
	uint64_t		 key;
	uint32_t		 n;
};
RB_HEAD(client_tree, client_count);
int	 client_cmp(struct client_count *, struct client_count *);
RB_PROTOTYPE(client_tree, client_count, entry, client_cmp)

struct session;
RB_HEAD(session_tree, session);

/* Room left under a tenant's spool_max, as queued last said. */
struct tenant_room {
	char			 tenant[TENANT_MAX + 1];
	uint64_t		 room;
};

/* Empty spool files held for the next transactions (smtp_spares.c). */
#define SPARES_MAX	FD_SPARES
struct spares {
	struct fdpool		 pool;
	size_t			 asked;		/* requests out */
	int			 failing;	/* the last request failed */
};

/* Requests to keyd, one at a time (smtp_tlskey.c). */
struct tls_keys {
	uint64_t		 last;		/* the last request's id */
	uint64_t		 waiting;	/* the one we wait for, or 0 */
	int			 answered;
	int			 ok;
	uint8_t			 sig[1024];	/* K_SIG_MAX */
	size_t			 siglen;
	uint64_t		 calls;		/* answered, for status */
	uint64_t		 usec;		/* their round trips */
	uint64_t		 refused;
	uint64_t		 timeouts;
};

/* The descriptor budget (smtp_fds.c). */
struct fds {
	size_t			 limit;		/* RLIMIT_NOFILE as we got it */
	size_t			 orphans;	/* files coming for sessions
						   that left */
	int			 reserve;	/* freed to answer at EMFILE */
	int			 short_now;	/* an episode is running */
};

struct smtp_stats;

struct smtpd {
	struct child		*child;
	struct smtp_stats	*stats;		/* smtp_stats.c */
	const struct conf	*conf;
	struct relay		*relay;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct session_tree	 sessions;
	uint32_t		 nsessions;
	uint64_t		 next_id;
	struct client_tree	 clients;
	struct dns_client	*dns;
	uint64_t		 free_space;	/* UINT64_MAX until known */
	int			 store_full;	/* queued's store: no more */
	struct tenant_room	*rooms;		/* tenants near spool_max */
	size_t			 nrooms;
	struct tenant_room	*deferred;	/* tenants deferring all */
	size_t			 ndeferred;
	uint64_t		 accepted;	/* messages, for status */
	struct event		*accept_pause;
	struct spares		 spares;
	struct fds		 fds;
	struct {
		int		 dnsbl;		/* some tenant uses a list */
		int		 tenant_checks;	/* some tenant checks */
		int		 milters;	/* some tenant scans */
	} policy;			/* smtp_policy.c */
	struct tls_server	*tls;		/* NULL: no certificate */
	struct tls_keys		 keys;
	uint64_t		 tls_sessions;	/* handshakes, for status */
	uint64_t		 tls_failed;
	uint64_t		 sessions_total[3];	/* by listen_mode */
	int			 auth_any;	/* some tenant has auth: */
};

enum session_state {
	SS_GREETING,		/* greeting_delay running */
	SS_COMMAND,		/* reading commands */
	SS_DATA,		/* DATA content */
	SS_BDAT,		/* a BDAT chunk */
	SS_SKIP,		/* a refused BDAT chunk, read and dropped */
	SS_STARTTLS,		/* 220 to STARTTLS going out */
	SS_HANDSHAKE,		/* TLS handshake */
	SS_AUTH,		/* reading an AUTH exchange's responses */
	SS_CLOSING		/* last reply going out */
};

/*
 * A session's TLS, from STARTTLS (or the connection, on smtps) on; what
 * the Received: field and the log say, and what AUTH needs: whether TLS
 * is up, and which tenant's name the client asked for by SNI.
 */
struct session_tls {
	struct tls_server	*srv;		/* held during the handshake */
	int			 implicit;	/* smtps: no greeting yet */
	uint32_t		 greeting_delay; /* then, the listener's */
	int			 up;		/* the handshake is done */
	char			 version[16];	/* "TLSv1.3" */
	char			 cipher[64];
	int			 bits;
	int			 alg_bits;
	char			 sni[256];	/* lower case, "" if none */
	char			 tenant[TENANT_MAX + 1]; /* by SNI, or "" */
};

/* The spool file, taken or asked for at the first accepted recipient. */
enum tx_file {
	FILE_NONE,
	FILE_ASKED,		/* M_Q_CREATE sent */
	FILE_READY,		/* msgid and fd held */
	FILE_OPEN,		/* the message is being written */
	FILE_FAILED		/* queued said no: file_err */
};

struct tx_scan;

/* One mail transaction, from MAIL to the end of data or RSET. */
struct transaction {
	char			*sender;	/* "" for <> */
	struct mail_params	 mp;
	struct rcpt		*rcpts;
	size_t			 nrcpts;
	uint64_t		 msgid;		/* 0 until queued made a file */
	int			 fd;
	enum tx_file		 file;
	struct smtp_reply	 file_err;	/* why queued made none */
	int			 committing;	/* queued owns the outcome */
	char			 mode;		/* 'D' DATA, 'B' BDAT */
	struct dot_parser	 dot;
	struct msg_sink		 sink;
	uint32_t		 overshoot;	/* RCPTs past max_recipients */
	uint64_t		 chunk_left;	/* BDAT octets still to read */
	int			 chunk_last;
	int			 chunk_skip;	/* discard: the BDAT failed */
	struct smtp_reply	 fail;		/* first BDAT failure */
	uint8_t			 p_mail;	/* policyd has this MAIL */
	uint32_t		 eod_class;	/* EOD_*, the first recipient's */
	char			*spf_field;	/* Received-SPF, to prepend */
	struct tx_scan		*scan;		/* smtp_milter.c */
	uint8_t			 hold;		/* quarantined: commit held */
};

/* What the recipients' checks do at the end of data (smtp_policy.c). */
#define EOD_TO_CC	0x1	/* require a To: or Cc: with an address */
#define EOD_SPF_TAG	0x2	/* prepend Received-SPF */
#define EOD_CONTENT_SHIFT 8	/* above: the tenant's content.id */

struct p_rcpt;
struct session_auth;

struct session {
	RB_ENTRY(session)	 entry;
	uint64_t		 id;
	struct smtpd		*sd;
	/*
	 * What it needs of its listener, copied: a reload frees the
	 * listeners while their sessions go on.
	 */
	struct {
		enum listen_mode mode;
		uint32_t	 greeting_delay;
		uint32_t	 pregreet_pass;
	} lst;
	struct bufferevent	*bev;
	struct event		*timer;		/* greeting delay */
	struct netaddr		 client;
	struct netaddr		 local;		/* the address it reached */
	char			 addr[64];	/* client address, text */
	uint64_t		 client_key;
	const struct tenant_conf *client_tenant; /* by outbound.networks */
	enum session_state	 state;
	uint8_t			 helo_kind;	/* 0, 'H' or 'E' */
	uint8_t			 waiting;	/* for queued */
	uint8_t			 unsynced;	/* unnegotiated pipelining */
	uint8_t			 discarding;	/* the rest of a long line */
	uint8_t			 out_paused;	/* client is not reading */
	uint8_t			 counted;	/* in the per-client count */
	uint8_t			 rdns_pending;	/* FCrDNS look-up out */
	uint8_t			 file_waiting;	/* spool file ready, rdns not */
	uint8_t			 file_out;	/* M_Q_CREATE out for us */
	char			*rdns;		/* forward-confirmed name */
	unsigned		 errors;
	char			*helo;
	struct session_tls	*tls;		/* NULL until TLS is asked */
	struct session_auth	*auth;		/* NULL until AUTH */
	struct transaction	*tx;
	uint64_t		 skip_left;	/* SS_SKIP octets to go */
	struct smtp_reply	*skip_reply;	/* then this reply */
	uint8_t			 delay_done;	/* greeting_delay has passed */
	/* policyd (smtp_policy.c) */
	uint8_t			 p_known;	/* it has our M_P_CONNECT */
	uint8_t			 p_stage;	/* of the verdict waited for */
	uint32_t		 p_seq;		/* the last question's */
	uint32_t		 p_wait;	/* the one waited for; 0: none */
	struct event		*p_timer;	/* timeouts.policy */
	struct p_rcpt		*p_rcpt;	/* the RCPT waiting */
};

int	 session_cmp(struct session *, struct session *);
RB_PROTOTYPE(session_tree, session, entry, session_cmp)

/* smtpd.c */
extern struct smtpd *smtpd_env;
/* smtp_stats.c: refusals counted for the statistics (stats.h). */
void	 smtp_stats_init(struct smtpd *);
void	 smtp_stats_refused(struct smtpd *, const char *tenant,
	    enum stat_reason, const struct smtp_reply *);
void	 smtpd_send_queue(struct smtpd *, uint32_t, uint64_t, int,
	    const void *, size_t);

/* smtp_session.c */
void	 session_accept(struct listener *, int fd, struct sockaddr *, int);
struct session *session_find(struct smtpd *, uint64_t id);
void	 session_reply_id(struct session *, enum reply_id);
void	 session_reply_r(struct session *, const struct smtp_reply *);
void	 session_reply_uncounted(struct session *, const struct smtp_reply *);
void	 session_reply_lines(struct session *, const char *, size_t);
void	 session_set_bev(struct session *, struct bufferevent *);
void	 session_close(struct session *, enum reply_id);
void	 session_close_r(struct session *, const struct smtp_reply *);
void	 session_policy_greet(struct session *, int pregreet_pass);
void	 session_wait(struct session *);
int	 session_pending_input(struct session *);
void	 session_resume(struct session *);
void	 session_tx_end(struct session *);
const char *session_proto(const struct session *);
void	 sessions_close_all(struct smtpd *);

/* smtp_command.c */
void	 command_line(struct session *, const char *, size_t);
void	 command_data_done(struct session *);
void	 command_chunk_done(struct session *);
void	 command_skip_chunk(struct session *, uint64_t,
	    const struct smtp_reply *);
void	 command_skip_done(struct session *);
void	 command_file_ready(struct session *);
void	 command_file_failed(struct session *, const struct smtp_reply *);
void	 command_mail_refused(struct session *, const struct smtp_reply *);
void	 command_rcpt_accept(struct session *, const struct relay_verdict *,
	    const struct rcpt_params *, uint32_t eod);
void	 command_rcpt_refused(struct session *, const struct smtp_reply *,
	    const char *addr);

/* smtp_policy.c */
void	 policy_configure(struct smtpd *, const struct conf *);
int	 policy_connect(struct session *);
void	 policy_pregreet(struct session *, int waited);
int	 policy_mail(struct session *);
int	 policy_rcpt(struct session *, const struct relay_verdict *,
	    const struct rcpt_params *, uint32_t eod);
uint32_t policy_eod_class(const struct session *, const struct tenant_conf *,
	    const char *addr, enum direction);
void	 policy_accepted(struct session *, uint64_t octets);
void	 policy_end(struct session *);
void	 policy_dispatch(struct smtpd *, struct imsg *);

/* smtp_milter.c */
struct mr;
void	 milter_configure(struct smtpd *, const struct conf *);
int	 milter_start(struct session *, struct smtp_reply *);
void	 milter_tx_end(struct session *);
void	 milter_claimed(struct smtpd *, struct imsg *, struct mr *);
void	 milter_dispatch(struct smtpd *, struct imsg *);

/* smtp_queue.c */
void	 queue_request_file(struct session *);
void	 queue_need_file(struct session *);
void	 queue_commit(struct session *);
void	 tx_file_release(struct session *);
void	 queue_give_back(struct smtpd *, uint64_t, uint64_t);
void	 spares_top_up(struct smtpd *);
int	 spare_take(struct smtpd *, uint64_t *, int *);
int	 spare_put(struct smtpd *, uint64_t, int);
void	 spare_made(struct smtpd *, uint64_t, int);
void	 spare_failed(struct smtpd *);
void	 queue_dispatch(struct smtpd *, struct imsg *);
/* Room left for the tenant's mail; UINT64_MAX when there is no doubt. */
uint64_t queue_tenant_room(const struct smtpd *, const char *tenant);
int	 queue_tenant_deferred(const struct smtpd *, const char *tenant);

/* smtp_fds.c */
void	 fds_init(struct smtpd *);
int	 fds_room(struct smtpd *);
int	 fds_room_spare(const struct smtpd *);
void	 fds_lost(struct smtpd *);
void	 fds_released(struct smtpd *);
int	 fds_refuse_backlog(struct smtpd *, int lfd, int err);

/* smtp_rdns.c */
void	 rdns_start(struct session *);

/* smtp_metrics.c */
struct mx_out;
void	 smtp_metrics(struct child *, struct mx_out *);

/* smtp_tls.c */
void	 smtp_tls_conf(struct smtpd *, const struct conf *);
void	 smtp_tls_starttls(struct session *, size_t arglen);
void	 smtp_tls_implicit(struct session *, uint32_t greeting_delay);
void	 smtp_tls_start(struct session *);
/* 1 for smtps, whose greeting (after *delay) comes now. */
int	 smtp_tls_established(struct session *, uint32_t *delay);
void	 smtp_tls_failed(struct session *, short what);
void	 smtp_tls_free(struct session *);
int	 smtp_tls_pending(const struct session *);
unsigned smtp_tls_ehlo(const struct session *);
/* Under TLS, and the tenant whose tls.names the client asked for. */
int	 smtp_tls_active(const struct session *);
const char *smtp_tls_sni_tenant(const struct session *);

/* smtp_auth.c */
void	 smtp_auth_conf(struct smtpd *, const struct conf *);
int	 smtp_auth_offered(const struct session *);
unsigned smtp_auth_ehlo(const struct session *);
const char *smtp_auth_user(const struct session *);
void	 smtp_auth_command(struct session *, const char *, size_t);
int	 smtp_auth_step(struct session *);
void	 smtp_auth_result(struct smtpd *, struct imsg *);
int	 smtp_auth_mail(struct session *, const struct mailaddr *);
void	 smtp_auth_sent(struct session *, size_t nrcpts);
void	 smtp_auth_end(struct session *);

/* smtp_tlskey.c */
void	 tlskey_init(void);
struct evp_pkey_st *tlskey_pkey(struct x509_st *leaf);
void	 tlskey_dispatch(struct smtpd *, struct imsg *);

/* smtp_received.c */
int	 received_header(const struct session *, char *, size_t);

/* smtp_limits.c */
int	 limits_client_add(struct smtpd *, uint64_t key);
void	 limits_client_del(struct smtpd *, uint64_t key);

#endif
