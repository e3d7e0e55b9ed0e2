/*
 * Messages between dnsd and the processes that ask it (4xx).
 * peerid is the asker's request id.
 *
 *   M_DNS_QUERY   u32 qtype, str name (for PTR and FCRDNS: an IP address)
 *   M_DNS_ANSWER  u8 rcode, u8 truncated, u8 secure, u32 n, then n
 *                 records: A, AAAA: data; MX: u32 pref, str host; PTR,
 *                 CNAME: str; TXT: data; TLSA: u8 usage, u8 selector,
 *                 u8 matching type, data; FCRDNS: str (the confirmed
 *                 name, n is 0 or 1)
 *
 * secure is 1 only when a validating resolver dnsd trusts (dns.dnssec,
 * every server on loopback) set the AD bit: the answer, positive or
 * negative, is DNSSEC-authenticated.  Never with a TEMPFAIL.
 */
#ifndef RELAYD_MSG_DNS_H
#define RELAYD_MSG_DNS_H

enum msg_dns {
	M_DNS_QUERY = 400,
	M_DNS_ANSWER,
	M_DNS_MAX
};

/* Not a DNS type: a PTR name whose A or AAAA records lead back. */
#define DNS_Q_FCRDNS	0xff01

#endif
