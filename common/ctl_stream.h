/*
 * ctl_stream: a child's listings for relayctl, sent in parts as the
 * parent asks for them (msg_parent.h).
 *
 *	parent				child
 *	M_CTL_REQ	------------>	ctl_stream_open: the first part
 *			<------------	M_CTL_LINE ... M_CTL_PAUSE
 *	(relayctl has read most of it)
 *	M_CTL_MORE	------------>	the next part
 *			<------------	M_CTL_LINE ... M_CTL_PAUSE
 *	...		<------------	M_CTL_LINE ... M_CTL_DONE
 *
 * So the channel and the parent hold at most a part per listing, however
 * long the listing: a queue of a million messages costs what a queue of a
 * thousand does.  M_CTL_CANCEL (relayctl went away) drops a listing.
 *
 * Between parts a lister keeps no pointer into its data, only a cursor: a
 * 64-bit key such as the next queue id to list, which it continues from
 * with RB_NFIND, so entries added or removed meanwhile cannot break it.
 * A child keeps at most CTL_STREAMS_MAX listings open and abandons one
 * that nobody asked to continue for timeouts.control.  A lister with
 * state of its own (a search through files) frees it in release, which
 * runs however the listing ends: done, failed, cancelled or abandoned.
 *
 * A feed (relayctl monitor) is a listing without end: its lines come as
 * events do, with ctl_feed_line.  It never waits for them: while the
 * parent has not asked for the next part, lines are counted as lost,
 * and the next part begins with the line lost() makes of the count.  It
 * is never abandoned; it ends when relayctl goes (M_CTL_CANCEL).
 */
#ifndef RELAYD_CTL_STREAM_H
#define RELAYD_CTL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define CTL_PART_LINES	256
#define CTL_PART_BYTES	(32 * 1024)
#define CTL_STREAMS_MAX	8

struct child;
struct imsg;
struct ctl_stream;
struct ctl_streams;

/*
 * Offer the next lines to ctl_stream_line() until it refuses one (the part
 * is full) or nothing is left; return 1 if more remain, 0 at the end, -1
 * to end with the error set by ctl_stream_error().  *cursor is 0 at the
 * start, and the lister's own.  A part may hold no line: a lister that
 * reads files returns 1 after a bounded amount of reading, so that the
 * event loop is never held long.
 */
typedef int (*ctl_fill_fn)(struct ctl_stream *, void *arg, uint64_t *cursor);
/* The lister's state, freed when the listing ends in any way. */
typedef void (*ctl_release_fn)(void *arg);
/* A feed's line for n lines lost while relayctl was not reading. */
typedef void (*ctl_lost_fn)(void *arg, uint64_t n, char *buf, size_t sz);

/*
 * Answer the request (M_CTL_REQ) with header (NULL: none), then what
 * fill gives, part by part; what names the listing in the log; release
 * may be NULL.  A child at CTL_STREAMS_MAX answers ERR at once (and
 * releases arg).
 */
void	 ctl_stream_open(struct child *, struct imsg *req, const char *what,
	    const char *header, ctl_fill_fn fill, ctl_release_fn release,
	    void *arg);
/* 0: sent (cut to CTL_TEXT_MAX); -1: the part is full, offer it again. */
int	 ctl_stream_line(struct ctl_stream *, const char *);
/* The error the listing ends with when fill returns -1. */
void	 ctl_stream_error(struct ctl_stream *, const char *);
/* A feed for the request; NULL if refused (ERR sent, arg released). */
struct ctl_stream *ctl_feed_open(struct child *, struct imsg *req,
	    const char *what, ctl_lost_fn lost, ctl_release_fn release,
	    void *arg);
/* A line for the feed: sent, or counted as lost. */
void	 ctl_feed_line(struct ctl_stream *, const char *);
/* M_CTL_MORE and M_CTL_CANCEL from the parent (child.c). */
void	 ctl_stream_more(struct child *, struct imsg *);
void	 ctl_stream_cancel(struct child *, struct imsg *);
/* Listings open, for the status line. */
size_t	 ctl_stream_count(const struct child *);

#endif
