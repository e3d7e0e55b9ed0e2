/*
 * milter_sock: unix:PATH and inet:ADDRESS:PORT.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <string.h>

#include "milter_sock.h"
#include "netaddr.h"

const char *
milter_sock_parse(const char *s, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct hostport		 hp;
	const char		*why;
	size_t			 n;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(s, "unix:", 5) == 0) {
		s += 5;
		if (s[0] != '/')
			return "unix: needs an absolute path";
		if ((n = strlen(s)) >= sizeof(sun->sun_path))
			return "the socket path is too long";
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s, n + 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    n + 1);
		return NULL;
	}
	if (strncmp(s, "inet:", 5) != 0)
		return "expected unix:PATH or inet:ADDRESS:PORT";
	if ((why = hostport_parse(s + 5, &hp)) != NULL)
		return why;
	if (hp.port == 0)
		return "port 0";
	if (hostport_sockaddr(&hp, ss, len) == -1)
		return "an IP address is needed (names are not resolved)";
	return NULL;
}
