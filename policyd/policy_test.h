/*
 * policy_test: relayctl's test commands, answered by policyd with the
 * checks smtpd's sessions get (msg_parent.h, M_CTL_REQ).
 *
 *	test spf IP SENDER [HELO]	the SPF result (RFC 7208), the domain
 *					checked, why, and the Received-SPF
 *					field it would add
 */
#ifndef RELAYD_POLICY_TEST_H
#define RELAYD_POLICY_TEST_H

struct child;
struct dns_client;
struct imsg;
struct policy_tests;

struct policy_tests *policy_tests_new(struct child *, struct dns_client *);
/* An M_CTL_REQ from the parent. */
void	 policy_tests_control(struct policy_tests *, struct imsg *);

#endif
