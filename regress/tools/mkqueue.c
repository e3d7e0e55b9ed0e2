/*
 * mkqueue: fill a stopped relayd's queue with N deferred messages, for the
 * tests of big queues (a queue of 200,000 is minutes over SMTP, seconds
 * here).
 *
 *	mkqueue [-n count] [-s size] [-t tenant] state_dir
 *
 * Writes what queued itself would: an envelope per message (envelope_encode)
 * in the "queue" database of state_dir/db, keyed by the 8-byte big-endian
 * id (queue_store.c), and a spool file state_dir/spool/<id> owned like the
 * spool directory, of size octets (default 100, at most 999; 0 makes empty
 * files, which cost no data blocks).  Each message has three recipients
 * of the tenant, tried four times, the next attempt two days away; the
 * first has a last error of a few hundred octets, as a tenant's refusing
 * server gives, so a show queue line is about 450 octets.  Run it as root
 * once relayd has made the state directory (a first start and stop).
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "envelope.h"
#include "marshal.h"
#include "netaddr.h"

#define MAPSIZE		(4ull * 1024 * 1024 * 1024)	/* queue_store.c */
#define BATCH		10000
#define NRCPTS		3

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mkqueue [-n count] [-s size] [-t tenant] "
	    "state_dir\n");
	exit(2);
}

static void
key_of(uint64_t id, uint8_t k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = (uint8_t)(id & 0xff);
		id >>= 8;
	}
}

static char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		err(1, "strdup");
	return p;
}

static struct envelope *
make_envelope(uint64_t id, long i, const char *tenant, time_t now,
    size_t size)
{
	struct envelope	*e;
	struct rcpt	*r;
	char		 buf[ERRTEXT_MAX];
	int		 j;

	if ((e = envelope_new()) == NULL)
		err(1, "envelope");
	e->id = id;
	snprintf(buf, sizeof(buf), "newsletter-%ld@sender.example", i);
	e->sender = xstrdup(buf);
	strlcpy(e->helo, "mail.sender.example", sizeof(e->helo));
	if (netaddr_parse("192.0.2.25", &e->client) == -1)
		errx(1, "netaddr_parse");
	strlcpy(e->client_name, "mail.sender.example",
	    sizeof(e->client_name));
	e->created = now - 3600;
	e->size = size;
	for (j = 0; j < NRCPTS; j++) {
		if ((r = envelope_add_rcpt(e)) == NULL)
			err(1, "recipient");
		snprintf(buf, sizeof(buf), "user%ld-%d@%s.example", i, j,
		    tenant);
		r->addr = xstrdup(buf);
		r->dir = DIR_INBOUND;
		r->route = ROUTE_TENANT;
		r->status = RS_PENDING;
		strlcpy(r->tenant, tenant, sizeof(r->tenant));
		snprintf(buf, sizeof(buf), "%s.example", tenant);
		r->domain = xstrdup(buf);
		r->attempts = 4;
		r->next_attempt = now + 2 * 86400;
		/* show queue gives the first one's error: the long one. */
		if (j == 0)
			snprintf(buf, sizeof(buf), "451 4.3.0 <user%ld-%d@%s."
			    "example>: Temporary lookup failure: the directory "
			    "server at ldap.%s.example did not answer within "
			    "30 seconds; the message will be kept and tried "
			    "again later, and no action is needed on your side "
			    "unless this goes on for more than a day "
			    "(reference %016llx, server mx1.%s.example)", i, j,
			    tenant, tenant, (unsigned long long)id, tenant);
		else
			snprintf(buf, sizeof(buf), "451 4.3.0 Temporary lookup "
			    "failure");
		r->last_error = xstrdup(buf);
	}
	return e;
}

static int
write_spool(int dirfd, uint64_t id, const struct stat *owner,
    const char *body, size_t len)
{
	char	name[32];
	int	fd;

	queue_id_format(id, name, sizeof(name));
	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if (write(fd, body, len) != (ssize_t)len ||
	    fchown(fd, owner->st_uid, owner->st_gid) == -1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The store's format, as queued records it (queued/queue_store.c). */
static void
put_version(MDB_txn *txn, const char *path)
{
	MDB_dbi	 meta;
	MDB_val	 key, val;
	char	 v[16];
	int	 rc;

	snprintf(v, sizeof(v), "%d", STORE_VERSION);
	key.mv_size = strlen("version");
	key.mv_data = "version";
	val.mv_size = strlen(v);
	val.mv_data = v;
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta)) != 0 ||
	    (rc = mdb_put(txn, meta, &key, &val, 0)) != 0)
		errx(1, "%s: the store's version: %s", path, mdb_strerror(rc));
}

int
main(int argc, char **argv)
{
	const char	*tenant = "acme", *errstr;
	char		 path[4096], body[1000];
	struct stat	 owner, dbst;
	struct envelope	*e;
	struct mw	 w;
	MDB_env		*env;
	MDB_txn		*txn = NULL;
	MDB_dbi		 dbi;
	MDB_val		 key, val;
	uint8_t		 k[8];
	uint64_t	 base, id;
	time_t		 now = time(NULL);
	long		 count = 1000, i;
	size_t		 blen = 100, hlen;
	int		 ch, rc, dirfd;

	while ((ch = getopt(argc, argv, "n:s:t:")) != -1) {
		switch (ch) {
		case 'n':
			count = strtonum(optarg, 1, 100000000, &errstr);
			if (errstr != NULL)
				errx(2, "count %s: %s", optarg, errstr);
			break;
		case 's':
			blen = strtonum(optarg, 0, sizeof(body) - 1, &errstr);
			if (errstr != NULL)
				errx(2, "size %s: %s", optarg, errstr);
			break;
		case 't':
			tenant = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	snprintf(path, sizeof(path), "%s/spool", argv[optind]);
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(dirfd, &owner) == -1)
		err(1, "%s", path);
	snprintf(path, sizeof(path), "%s/db", argv[optind]);
	if (stat(path, &dbst) == -1)
		err(1, "%s", path);
	/* A header, then a body of lines of x, to size octets. */
	memset(body, 'x', sizeof(body));
	hlen = strlcpy(body, "Received: by mkqueue\r\nSubject: a test "
	    "message\r\n\r\n", sizeof(body));
	if (blen > 0 && blen < hlen + 2)
		errx(2, "size must be 0 or at least %zu", hlen + 2);
	if (blen > 0)
		memcpy(body + blen - 2, "\r\n", 2);
	/* Ids as queued makes them: seconds above, anything below. */
	base = (uint64_t)(now - 3600) << 32;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, MAPSIZE)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSYNC, 0660)) != 0)
		errx(1, "%s: %s", path, mdb_strerror(rc));
	for (i = 0; i < count; i++) {
		if (txn == NULL &&
		    ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
		    (rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &dbi)) != 0))
			errx(1, "%s: %s", path, mdb_strerror(rc));
		if (i == 0)
			put_version(txn, path);
		id = base + (uint64_t)i;
		if (write_spool(dirfd, id, &owner, body, blen) == -1)
			err(1, "spool file %016llx", (unsigned long long)id);
		e = make_envelope(id, i, tenant, now, blen);
		if (envelope_encode(e, &w) == -1)
			errx(1, "envelope_encode");
		key_of(id, k);
		key.mv_size = sizeof(k);
		key.mv_data = k;
		val.mv_size = w.len;
		val.mv_data = w.buf;
		if ((rc = mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE)) != 0)
			errx(1, "put %016llx: %s", (unsigned long long)id,
			    mdb_strerror(rc));
		mw_release(&w);
		envelope_free(e);
		if ((i + 1) % BATCH == 0 || i + 1 == count) {
			if ((rc = mdb_txn_commit(txn)) != 0)
				errx(1, "commit: %s", mdb_strerror(rc));
			txn = NULL;
		}
	}
	if ((rc = mdb_env_sync(env, 1)) != 0)
		errx(1, "sync: %s", mdb_strerror(rc));
	mdb_env_close(env);
	if (fsync(dirfd) == -1)
		err(1, "fsync spool");
	/* What LMDB created belongs to queued, as the directory does. */
	snprintf(path, sizeof(path), "%s/db/data.mdb", argv[optind]);
	if (chown(path, dbst.st_uid, dbst.st_gid) == -1)
		err(1, "chown %s", path);
	snprintf(path, sizeof(path), "%s/db/lock.mdb", argv[optind]);
	if (chown(path, dbst.st_uid, dbst.st_gid) == -1)
		err(1, "chown %s", path);
	printf("%ld messages queued\n", count);
	return 0;
}
