/*
 * idn: internationalised domain names (IDNA2008, libidn2) as the DNS
 * and the route keys need them: A-labels (xn--), lower case.
 */
#ifndef RELAYD_IDN_H
#define RELAYD_IDN_H

#include <stddef.h>

/*
 * The A-label form of a domain given in UTF-8 (U-labels) or ASCII, lower
 * case, into out.  0, or -1 when it is not a valid IDNA2008 name (or
 * does not fit).
 */
int	 idn_to_alabel(const char *in, char *out, size_t sz);
/* Does the name hold octets above 127 (U-labels)? */
int	 idn_is_unicode(const char *);

#endif
