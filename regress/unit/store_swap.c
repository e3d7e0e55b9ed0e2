/*
 * store_swap: queued compacts the queue store (queued/queue_store.c)
 * while another process reads it (common/store_rd.h), as policyd will.
 *
 * A reader process holds a read transaction across the compaction: its
 * snapshot stays whole.  Its next transaction follows the new data.mdb;
 * the writer's commits after the swap succeed and reach it through the
 * new lock file; the compacted file holds the live envelopes and none of
 * the deleted ones, which the old file still held in its free pages.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "queued/queued.h"
#include "store_rd.h"
#include "tap.h"

#define MAPSIZE	(64ull * 1024 * 1024)
#define N	200
#define KEPT	20

static char	dir[256], db[300];
static int	to_rd[2], from_rd[2];

/* The reader's answer to one command: a count, or -1. */
static long
ask(char cmd)
{
	long	v = -1;

	if (write(to_rd[1], &cmd, 1) != 1 ||
	    read(from_rd[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -2;
	return v;
}

static long
count(MDB_txn *txn)
{
	MDB_dbi		 dbi;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	long		 n = 0;

	if (mdb_dbi_open(txn, "queue", 0, &dbi) != 0 ||
	    mdb_cursor_open(txn, dbi, &cur) != 0)
		return -1;
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		/* Every value read whole: a wrong page would not be. */
		if (v.mv_size < 5 || memcmp(v.mv_data, "live-", 5) != 0) {
			mdb_cursor_close(cur);
			return -1;
		}
		n++;
	}
	mdb_cursor_close(cur);
	return n;
}

/* The reader: a process of its own, as policyd is. */
static void __attribute__((noreturn))
reader(void)
{
	struct store_rd	*rd = NULL;
	MDB_txn		*held = NULL, *txn;
	char		 cmd, err[256];
	long		 v;

	while (read(to_rd[0], &cmd, 1) == 1) {
		v = -1;
		switch (cmd) {
		case 'o':	/* open */
			rd = store_rd_open(db, MAPSIZE, err, sizeof(err));
			v = rd != NULL;
			break;
		case 'h':	/* a transaction held, and its count */
			if (store_rd_begin(rd, &held) == 0)
				v = count(held);
			break;
		case 'r':	/* the held one, counted again */
			v = count(held);
			break;
		case 'e':	/* the held one ended */
			store_rd_end(rd, held);
			v = 0;
			break;
		case 'c':	/* a new transaction's count */
			if (store_rd_begin(rd, &txn) == 0) {
				v = count(txn);
				store_rd_end(rd, txn);
			}
			break;
		case 'g':
			v = (long)store_rd_generation(rd);
			break;
		}
		if (write(from_rd[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
			break;
	}
	store_rd_close(rd);
	_exit(0);
}

static int
apply(struct store *st, enum task_kind kind, uint64_t first, uint64_t n,
    const char *tag)
{
	struct task_list	 l;
	struct task		*j, *next;
	char			 buf[64];
	uint64_t		 i;
	int			 rv, failed = 0;

	TAILQ_INIT(&l);
	for (i = first; i < first + n; i++) {
		if ((j = calloc(1, sizeof(*j))) == NULL)
			return -1;
		j->kind = kind;
		j->id = i;
		j->fd = -1;
		if (kind == TASK_PUT) {
			snprintf(buf, sizeof(buf), "%s-%llu@example.org", tag,
			    (unsigned long long)i);
			j->blob = (uint8_t *)strdup(buf);
			j->bloblen = strlen(buf);
		}
		TAILQ_INSERT_TAIL(&l, j, entry);
	}
	rv = store_apply(st, &l);
	TAILQ_FOREACH_SAFE(j, &l, entry, next) {
		failed |= j->err != 0;
		free(j->blob);
		free(j);
	}
	return rv == -1 || failed ? -1 : 0;
}

/* Does the file hold the string anywhere, free pages included? */
static int
file_has(const char *path, const char *s)
{
	static char	 buf[MAPSIZE / 4];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0 && memmem(buf, (size_t)n, s, strlen(s)) != NULL;
}

int
main(void)
{
	struct store	*st;
	struct stat	 s0, s1;
	char		 err[512], data[400];
	uint64_t	 before, after;
	pid_t		 pid;
	int		 status;

	signal(SIGPIPE, SIG_IGN);
	strlcpy(dir, "/tmp/store_swap.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", db);
	mkdir(db, 0700);
	/* The reader first: no environment of the writer's crosses fork. */
	if (pipe(to_rd) == -1 || pipe(from_rd) == -1 ||
	    (pid = fork()) == -1) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(to_rd[1]);
		close(from_rd[0]);
		reader();
	}
	close(to_rd[0]);
	close(from_rd[1]);

	if ((st = store_open(db, MAPSIZE, err, sizeof(err))) == NULL) {
		diag("%s", err);
		ok(0, "the store opens");
		return done_testing();
	}
	ok(apply(st, TASK_PUT, 1, N, "live") == 0, "%d envelopes written", N);
	ok(apply(st, TASK_PUT, KEPT + 1, N - KEPT, "gone") == 0 &&
	    apply(st, TASK_DELETE, KEPT + 1, N - KEPT, NULL) == 0,
	    "%d rewritten and deleted, %d kept", N - KEPT, KEPT);
	ok(file_has(data, "gone-150@example.org") == 1,
	    "before: deleted envelopes linger in data.mdb's free pages");

	is_int(ask('o'), 1, "the reader opens the store");
	is_int(ask('h'), KEPT, "and holds a transaction: %d envelopes",
	    KEPT);
	stat(data, &s0);
	ok(store_compact(st, &before, &after, err, sizeof(err)) == 0,
	    "compacted under the reader (%s)", err);
	diag("data.mdb: %llu octets, then %llu", (unsigned long long)before,
	    (unsigned long long)after);
	stat(data, &s1);
	ok(s0.st_ino != s1.st_ino, "data.mdb is a new file");
	is_int(file_has(data, "gone-150@example.org"), 0,
	    "after: no deleted envelope is left in data.mdb");
	is_int(file_has(data, "live-5@example.org"), 1,
	    "the live ones are there");

	is_int(ask('r'), KEPT, "the reader's held snapshot is whole");
	is_int(ask('g'), 1, "it still reads the old files");
	is_int(ask('e'), 0, "it ends that transaction");
	is_int(ask('c'), KEPT, "its next one reads the compacted store");
	is_int(ask('g'), 2, "having opened it again");

	ok(apply(st, TASK_PUT, 1000, 5, "live") == 0,
	    "commits after the swap succeed");
	is_int(ask('c'), KEPT + 5, "and the reader sees them");
	ok(apply(st, TASK_DELETE, 1000, 5, NULL) == 0 &&
	    store_compact(st, &before, &after, err, sizeof(err)) == 0,
	    "a second compaction");
	is_int(ask('c'), KEPT, "followed too");
	is_int(ask('g'), 3, "by a third environment");
	ok(apply(st, TASK_PUT, 2000, 1, "live") == 0,
	    "and the writer commits on");
	is_int(ask('c'), KEPT + 1, "seen by the reader");
	ok(store_compact_due(st), "a write since: due again");

	close(to_rd[1]);
	waitpid(pid, &status, 0);
	store_close(st);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	if (system(err) != 0)
		diag("%s left behind", dir);
	return done_testing();
}
