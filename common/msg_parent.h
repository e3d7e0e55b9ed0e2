/*
 * Messages between the parent and any child (1xx).  peerid is 0 unless
 * said otherwise.  The parent decodes what a child sends in one place
 * (relayd/parent_kidmsg.c): anything not listed as child -> parent here,
 * or malformed, is that child's fatal error.
 *
 * Configuration, parent -> child, at start and at each reload
 * (config_wire.c; a child receives the slices its proc_desc names):
 *
 *   M_CONF_BEGIN          u32 generation
 *   M_CONF_GLOBAL         str hostname, str postmaster, then the limits,
 *                         timeouts, queue, notices, retention and log
 *                         settings in config_wire.c's order (u64 sizes,
 *                         u32 counts and durations, u8 flags); log.file
 *                         stays with the parent
 *   M_CONF_LISTENER       str host, u32 port, u32 mode, u32 greeting
 *                         delay; with the bound socket (smtpd only)
 *   M_CONF_DNS            u32 max_ttl, u32 timeout, u32 tries
 *   M_CONF_DNS_SERVERS    (str host, u32 port)*             chunked
 *   M_CONF_TENANT         str name, str postmaster, u32 inbound mode,
 *                         u32 hold, u32 verify, str delimiter,
 *                         u8 allow_bare_newlines, u64 spool_max,
 *                         u8 inbound.tls, u32 defer_all_after; the
 *                         lists below belong to the last tenant sent
 *   M_CONF_TENANT_DOMAINS (str domain, u8 subdomains)*      chunked
 *   M_CONF_TENANT_ROUTES  (str host, u32 port)*             chunked
 *   M_CONF_TENANT_NETS    (u8 is_v6, data[16] addr, u8 prefix)*  chunked
 *   M_CONF_TENANT_RCPTS   (str address)*  (smtpd only)     chunked
 *   M_CONF_TENANT_CONTACTS (str email, str name, str phone, u8 roles)*
 *                         ("" for a name or phone not given; queued
 *                         only)                            chunked
 *   M_CONF_TENANT_POLICY  u8 greylist, u32 delay, window, lifetime,
 *                         auto_whitelist_after, u8 dnsbl, u32 threshold,
 *                         u8 spf, u8 sender_domain, u8 require_to_or_cc,
 *                         u64 daily_messages, u64 daily_bytes
 *   M_CONF_TENANT_AUTH    u8 on, str dovecot, str realm, u8
 *                         foreign_senders, u32 user_message_rate
 *   M_CONF_TENANT_DNSBL   (str zone, u32 weight, u32 n, n x data[4])*
 *                                                          chunked
 *   M_CONF_TENANT_GREYWL  (u8 0, net as in _NETS | u8 1, str domain)*
 *                                                          chunked
 *   M_CONF_DNSBL          the operator's lists, as _TENANT_DNSBL; sent
 *                         before the tenants; its threshold is in
 *                         M_CONF_GLOBAL
 *   M_CONF_TENANT_CONTENT u8 allow_header_changes, u8 outbound,
 *                         u32 n, n x (str socket, u32 timeout,
 *                         u8 on_failure), u32 m, m x (str name,
 *                         u8 has text, str text): the last tenant's
 *                         content: (its milters and bulk_defer)
 *   M_CONF_SECRET         data[32]: the policy store's HMAC key
 *                         (policyd only)
 *   M_CONF_TLS            u8 has CA, with the tls.ca_file descriptor
 *                         when it has (deliverd only)
 *   M_CONF_TLS_CERT       str tenant ("" for the relay's own, always
 *                         first), u32 certificates in the chain; then
 *                         as many M_CONF_TLS_CHAIN, data DER each, the
 *                         leaf first, and its SNI names (smtpd only)
 *   M_CONF_TLS_NAMES      (str name)*                        chunked
 *   M_CONF_TLS_KEY        str tenant, data DER private key, in the
 *                         order of the certificates (keyd only)
 *   M_CONF_METRICS        str host, u32 port, with the metrics.listen
 *                         socket the parent bound (metricsd only; not
 *                         sent when metrics are off)
 *   M_CONF_STORE          u8 backend, str key_prefix, str master_name,
 *                         u32 timeout, data[32] tenant digest, str
 *                         password ("": none), u32 nsentinels, u32
 *                         nservers, then (str host, u32 port) each
 *                         (policyd only; the password is its alone)
 *   M_CONF_END            u32 generation
 *
 * answered, child -> parent, by
 *
 *   M_CONF_ACK            u32 generation: in force
 *   M_CONF_FAIL           u32 generation, str why: not applied (a
 *                         listening socket lost in transit); the one in
 *                         force stays
 *
 * The rest:
 *
 *   M_LOG        child -> parent  u8 priority, str line: the parent
 *                                 writes it (at LOG_CRIT at most)
 *   M_VERBOSE    parent -> child  u32 level
 *   M_STATUS_REQ parent -> child  peerid = the request; no payload
 *   M_STATUS     child -> parent  peerid as asked; str one-line state
 *   M_CTL_REQ    parent -> child  peerid = the request; the command as
 *                                 control_req.h parses it (u32 cmd,
 *                                 u8 all, str id, u32 n, n x str arg:
 *                                 decoded); to queued, or to policyd
 *                                 for test commands
 *   M_CTL_LINE   child -> parent  peerid; str one line of the answer
 *   M_CTL_PAUSE  child -> parent  peerid; no payload: a part ends
 *   M_CTL_MORE   parent -> child  peerid; no payload: send the next part
 *   M_CTL_CANCEL parent -> child  peerid; no payload: relayctl has gone
 *   M_CTL_DONE   child -> parent  peerid; u8 ok (0 or 1), str error
 *   M_CTL_TEXT   parent -> queued peerid; raw octets, at most
 *                                 ANNOUNCE_PART: a part of relayctl
 *                                 announce's text, all of them before
 *                                 its M_CTL_REQ (announce.h)
 *
 * A control request is answered with M_CTL_LINEs and one M_CTL_DONE, and
 * the parent takes them only from the child it asked.  A listing, which
 * may be as long as the queue, comes in parts (ctl_stream.h): each part
 * ends with M_CTL_PAUSE, and the child sends the next only when the
 * parent asks with M_CTL_MORE, which it does once relayctl has read most
 * of what it was given.  A child ignores M_CTL_MORE and M_CTL_CANCEL for
 * a request it no longer has.
 */
#ifndef RELAYD_MSG_PARENT_H
#define RELAYD_MSG_PARENT_H

enum msg_parent {
	M_LOG = 100,		/* child -> parent: u8 pri, str line */
	M_VERBOSE,		/* parent -> child: u32 level */
	M_STATUS_REQ,		/* parent -> child: peerid = request */
	M_STATUS,		/* child -> parent: str state */
	M_CONF_BEGIN,		/* parent -> child: u32 generation */
	M_CONF_GLOBAL,
	M_CONF_LISTENER,	/* with the bound socket */
	M_CONF_DNS,
	M_CONF_DNS_SERVERS,	/* chunked */
	M_CONF_TENANT,
	M_CONF_TENANT_DOMAINS,	/* chunked */
	M_CONF_TENANT_ROUTES,	/* chunked */
	M_CONF_TENANT_NETS,	/* chunked */
	M_CONF_TENANT_RCPTS,	/* chunked */
	M_CONF_END,		/* u32 generation */
	M_CONF_ACK,		/* child -> parent: u32 generation */
	M_CTL_REQ,		/* parent -> child: a control request */
	M_CTL_LINE,		/* child -> parent: one line of the answer */
	M_CTL_DONE,		/* child -> parent: u8 ok, str error */
	M_CTL_PAUSE,		/* child -> parent: a part ends, more to come */
	M_CTL_MORE,		/* parent -> child: send the next part */
	M_CTL_CANCEL,		/* parent -> child: relayctl has gone */
	M_CONF_FAIL,		/* child -> parent: u32 generation not
				   applied, str why (the old one stays) */
	M_CONF_DNSBL,		/* the operator's DNS lists, chunked */
	M_CONF_TENANT_POLICY,	/* the last tenant's policy scalars */
	M_CONF_TENANT_DNSBL,	/* its own DNS lists, chunked */
	M_CONF_TENANT_GREYWL,	/* its greylist whitelist, chunked */
	M_CONF_SECRET,		/* data[32]: the policy store's key */
	M_CONF_TLS,		/* parent -> deliverd: u8 has CA, with the
				   tls.ca_file descriptor when it has */
	M_CONF_TLS_CERT,	/* parent -> smtpd: a certificate begins */
	M_CONF_TLS_CHAIN,	/* one certificate of its chain, DER */
	M_CONF_TLS_NAMES,	/* its SNI names, chunked */
	M_CONF_TLS_KEY,		/* parent -> keyd: a private key, DER */
	M_CONF_TENANT_CONTACTS,	/* the last tenant's contacts, chunked */
	M_CONF_METRICS,		/* parent -> metricsd: str host, u32 port,
				   with the bound socket */
	M_CONF_TENANT_AUTH,	/* the last tenant's auth: */
	M_CONF_TENANT_CONTENT,	/* the last tenant's content: */
	M_CONF_STORE,		/* parent -> policyd: policy_store */
	M_CTL_TEXT,		/* parent -> queued: a part of announce's
				   text, before its M_CTL_REQ */
	M_PARENT_MAX
};

/* An answer's line, with its NUL, at most (the parent's buffer). */
#define CTL_TEXT_MAX	8192

#define M_IS_CONF(t)	(((t) >= M_CONF_BEGIN && (t) <= M_CONF_END) || \
	((t) >= M_CONF_DNSBL && (t) <= M_CONF_SECRET) || \
	((t) >= M_CONF_TLS && (t) <= M_CONF_STORE))

#endif
