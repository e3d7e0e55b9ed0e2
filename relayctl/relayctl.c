/*
 * relayctl: control a running relayd over its control socket.
 *
 * The socket comes from -s, or from control_socket in the configuration
 * (-f, default /etc/relayd/relayd.yaml), or the built-in default.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "announce.h"
#include "config_load.h"
#include "control_req.h"
#include "text.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc/relayd"
#endif
#define DEFAULT_SOCKET	"/run/relayd/control.sock"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: relayctl [-f file] [-s socket] [--json] command "
	    "[argument]\n"
	    "commands:\n"
	    "  show status             processes, pids, uptime and state\n"
	    "  show queue              queued messages\n"
	    "  show corrupt            what queued put in quarantine\n"
	    "  reload                  reread the configuration\n"
	    "  log verbose | log brief change the log level\n"
	    "  queue flush ID | all    retry now\n"
	    "  queue hold ID           keep from delivery\n"
	    "  queue release ID        undo hold\n"
	    "  queue remove ID         delete, without a bounce (admin)\n"
	    "  queue bounce ID         give up now, with a bounce (admin)\n"
	    "  selfcheck [--from ADDRESS]\n"
	    "                          try to relay through every listener\n"
	    "  test spf IP SENDER [HELO]\n"
	    "                          the SPF result for a client, and why\n"
	    "                          (SENDER <> for the null sender)\n"
	    "  test dnsbl IP           the DNS lists' answers for a client,\n"
	    "                          and each tenant's score\n"
	    "  show greylist [TENANT]  greylisting's state, per tenant\n"
	    "  greylist whitelist ADDRESS | NETWORK | DOMAIN\n"
	    "                          never greylist these senders (admin)\n"
	    "  greylist flush          forget every triplet and\n"
	    "                          auto-whitelisted client (admin)\n"
	    "  show recipients TENANT  the recipients learned for a tenant\n"
	    "                          (admin: they are addresses)\n"
	    "  recipients forget TENANT ADDRESS\n"
	    "                          forget what was learned of an\n"
	    "                          address, and its callout answer (admin)\n"
	    "  show tenant TENANT [--json]\n"
	    "                          its contacts, servers, held mail and\n"
	    "                          notices\n"
	    "  notices test TENANT     send the tenant's contacts a test\n"
	    "                          notice (admin)\n"
	    "  trace ID|ADDRESS [--json]\n"
	    "                          a message's passage, from the records\n"
	    "                          (admin)\n"
	    "  monitor [--json]        records as they are written (admin)\n"
	    "  hold-records [--json]   the legal holds (admin)\n"
	    "  hold-records TENANT|ADDRESS [--release]\n"
	    "                          keep their records past the purge\n"
	    "                          (admin)\n"
	    "  auth suspend TENANT USER\n"
	    "                          refuse the user's AUTH (535) and end\n"
	    "                          its sessions' relaying (admin)\n"
	    "  auth resume TENANT USER lift a suspension (admin)\n"

	    "  show stats [TENANT] [--days N] [--json]\n"
	    "                          per-tenant statistics by day\n"
	    "  report TENANT           mail the tenant's contacts its report\n"
	    "                          of this month so far (admin)\n"
	    "  announce FILE [--role ROLE]\n"
	    "                          mail FILE, read with your own rights,\n"
	    "                          to every tenant's contacts (admin)\n");
	exit(2);
}

static int
socket_from_config(const char *file, int explicit, char *buf, size_t sz)
{
	struct conf_errors	 errs;
	struct conf		*conf;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	if (!explicit && access(file, R_OK) == -1) {
		strlcpy(buf, DEFAULT_SOCKET, sz);
		return 0;
	}
	if ((conf = conf_load(file, CONF_MAIN_ONLY, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "relayctl: %s\n", errs.msg[i]);
		conf_errors_clear(&errs);
		return -1;
	}
	if (strlcpy(buf, conf->control_socket, sz) >= sz) {
		fprintf(stderr, "relayctl: control socket path too long\n");
		conf_free(conf);
		return -1;
	}
	conf_free(conf);
	return 0;
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "relayctl: %s: path too long\n", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		perror("relayctl: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "relayctl: cannot connect to %s: %s "
			    "(is relayd running?)\n", path, strerror(errno));
		else
			fprintf(stderr, "relayctl: cannot connect to %s: %s\n",
			    path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * announce FILE [--role ROLE]: FILE read here, with the caller's rights
 * (never by relayd, which runs as root), checked, and sent after the
 * request line "announce OCTETS [role ROLE]" (announce.h).  Non-blocking
 * open: a FIFO does not hang us before it is refused.
 */
static int
announce_fail(char **text)
{
	free(*text);
	*text = NULL;
	return -1;
}

static int
announce_read(int argc, char **argv, char *req, size_t reqsz, size_t *len,
    char **text, size_t *tlen)
{
	struct stat	 st;
	const char	*why;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--role") == 0)) {
		fprintf(stderr, "relayctl: announce: expected FILE "
		    "[--role ROLE]\n");
		return -1;
	}
	if ((fd = open(argv[1], O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		fprintf(stderr, "relayctl: %s: %s\n", argv[1], strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "relayctl: %s: not a regular file\n", argv[1]);
		close(fd);
		return -1;
	}
	if (st.st_size > ANNOUNCE_MAX || (*text = malloc(ANNOUNCE_MAX + 1)) ==
	    NULL) {
		fprintf(stderr, "relayctl: %s: longer than 64 KB\n", argv[1]);
		close(fd);
		return -1;
	}
	/* It may grow meanwhile: never more than the bound plus one. */
	while (got <= ANNOUNCE_MAX && (n = read(fd, *text + got,
	    ANNOUNCE_MAX + 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "relayctl: %s: %s\n", argv[1],
			    strerror(errno));
			close(fd);
			return announce_fail(text);
		}
		got += (size_t)n;
	}
	close(fd);
	*tlen = got;
	if ((why = announce_text_check(*text, got)) != NULL) {
		fprintf(stderr, "relayctl: %s: %s\n", argv[1], why);
		return announce_fail(text);
	}
	*len = (size_t)snprintf(req, reqsz, "announce %zu%s%s", got,
	    argc == 4 ? " role " : "", argc == 4 ? argv[3] : "");
	return *len >= reqsz ? announce_fail(text) : 0;
}

/*
 * Print data lines; the final line decides the exit status.  Live
 * answers (monitor) are flushed line by line, for whoever reads them.
 */
static int
read_answer(int fd, int live)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 len;
	int	 rv = -1;

	if ((f = fdopen(fd, "r")) == NULL)
		return -1;
	while ((len = getline(&line, &cap, f)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		/*
		 * Words of clients and children, never a terminal's command
		 * (and what follows a NUL is not shown).
		 */
		text_clean(line);
		if (strncmp(line, "- ", 2) == 0) {
			printf("%s\n", line + 2);
			if (live)
				fflush(stdout);
			continue;
		}
		if (strcmp(line, "OK") == 0)
			rv = 0;
		else if (strncmp(line, "ERR ", 4) == 0)
			fprintf(stderr, "relayctl: %s\n", line + 4);
		else
			fprintf(stderr, "relayctl: unexpected answer: %s\n",
			    line);
		break;
	}
	if (len == -1 && rv == -1 && !ferror(f))
		fprintf(stderr, "relayctl: relayd closed the connection "
		    "without answering\n");
	free(line);
	fclose(f);
	return rv;
}

int
main(int argc, char **argv)
{
	const char	*file = SYSCONFDIR "/relayd.yaml", *sock = NULL, *why;
	char		 path[PATH_MAX], req[CTL_LINE_MAX + 2];
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_req	 parsed;
	char		*text = NULL;
	size_t		 len = 0, tlen = 0;
	int		 ch, fd, i, fflag = 0, json = 0;

	/* Options end at the command: its words may start with '-'. */
	while ((ch = getopt_long(argc, argv, "+f:s:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'f':
			file = optarg;
			fflag = 1;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind == argc)
		usage();
	if (strcmp(argv[optind], "announce") == 0) {
		if (announce_read(argc - optind, argv + optind, req,
		    sizeof(req), &len, &text, &tlen) == -1)
			return 1;
		optind = argc;
	}
	/* One word per argument, whatever it holds (control_req.h). */
	for (i = optind; i < argc; i++) {
		/* selfcheck --from ADDRESS travels as "from ADDRESS". */
		const char *w = strcmp(argv[i], "--from") == 0 ? "from" :
		    argv[i];
		int n;

		if (argv[i][0] == '\0') {
			fprintf(stderr, "relayctl: an argument is empty\n");
			usage();
		}
		if (i > optind)
			req[len++] = ' ';
		if ((n = ctl_arg_encode(w, req + len, sizeof(req) -
		    len)) == -1 || len + (size_t)n > CTL_LINE_MAX) {
			fprintf(stderr, "relayctl: request too long\n");
			usage();
		}
		len += (size_t)n;
	}
	/* --json before the command: as its last word (control_req.h). */
	if (json && text == NULL && strcmp(argv[argc - 1], CTL_JSON_WORD) !=
	    0) {
		if (len + 1 + strlen(CTL_JSON_WORD) > CTL_LINE_MAX) {
			fprintf(stderr, "relayctl: request too long\n");
			usage();
		}
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s",
		    CTL_JSON_WORD);
	}
	/* Refuse here what relayd would refuse, with the same words. */
	if ((why = ctl_req_parse(req, len, &parsed)) != NULL) {
		fprintf(stderr, "relayctl: %s\n", why);
		free(text);
		usage();
	}
	if (sock == NULL) {
		if (socket_from_config(file, fflag, path, sizeof(path)) == -1) {
			free(text);
			return 1;
		}
		sock = path;
	}
	if ((fd = connect_socket(sock)) == -1) {
		free(text);
		return 1;
	}
	req[len++] = '\n';
	/*
	 * relayd may refuse the request (an operator's announce) and close
	 * before it has read the text: its answer says why, not EPIPE.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (write_all(fd, req, len) == -1 ||
	    (text != NULL && write_all(fd, text, tlen) == -1)) {
		free(text);
		if (errno == EPIPE || errno == ECONNRESET)
			return read_answer(fd, 0) == 0 ? 0 : 1;
		fprintf(stderr, "relayctl: %s: %s\n", sock, strerror(errno));
		close(fd);
		return 1;
	}
	free(text);
	return read_answer(fd, parsed.cmd == CTL_MONITOR) == 0 ? 0 : 1;
}
