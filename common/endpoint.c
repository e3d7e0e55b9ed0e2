/*
 * endpoint: unix:PATH and inet:ADDRESS:PORT into a socket address.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <string.h>

#include "endpoint.h"
#include "netaddr.h"

static const char *
unix_parse(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;

	if (path[0] != '/')
		return "a unix socket needs an absolute path";
	if (strlen(path) >= sizeof(sun->sun_path))
		return "path too long for a unix socket";
	sun->sun_family = AF_UNIX;
	strlcpy(sun->sun_path, path, sizeof(sun->sun_path));
	*len = sizeof(*sun);
	return NULL;
}

static const char *
inet_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct hostport	 hp;
	const char	*why;

	if ((why = hostport_parse(s, &hp)) != NULL)
		return why;
	if (hostport_sockaddr(&hp, ss, len) == -1)
		return "an IP address and port, not a name";
	return NULL;
}

const char *
endpoint_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (strlen(s) >= ENDPOINT_MAX)
		return "too long";
	if (strncmp(s, "unix:", 5) == 0)
		return unix_parse(s + 5, ss, len);
	if (strncmp(s, "inet:", 5) == 0)
		return inet_parse(s + 5, ss, len);
	return "expected unix:/path or inet:ADDRESS:PORT";
}
