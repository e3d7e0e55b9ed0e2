/*
 * queue_reply: the replies queued gives smtpd for a spool file it cannot
 * make (M_Q_CREATE_FAIL) or a message it cannot commit (M_Q_COMMIT_FAIL).
 * smtpd passes them to the client as they are, so they are SMTP replies:
 * code, enhanced status code (RFC 3463) and text, always 4xx (smtpd
 * takes nothing else from us), and their bytes change only here.
 *
 * A few are smtpd's too (smtpd/smtp_reply.c): it refuses early, at MAIL
 * or RCPT, from what queue_quota.c announced; the check here at the
 * commit is the one that holds.
 */
#include <stdio.h>

#include "faults.h"
#include "marshal.h"
#include "queued.h"

static const struct queue_reply replies[QR_COUNT] = {
	/* No store yet (before the first configuration). */
	[QR_NOT_READY] =		{ 451, "4.3.0",
	    "Error: the queue is not ready, try again later" },
	/* smtpd holds as many files as it may: our descriptors. */
	[QR_TOO_MANY_FILES] =		{ 451, "4.3.2",
	    "Error: too many messages in progress, try again later" },
	/* Below limits.min_free_space, the store full, ENOSPC, EDQUOT. */
	[QR_NO_STORAGE] =		{ 452, "4.3.1",
	    "Insufficient system storage" },
	[QR_CANNOT_CREATE] =		{ 451, "4.3.0",
	    "Error: cannot queue the message now" },
	[QR_SIZE_MISMATCH] =		{ 451, "4.3.0",
	    "Error: message size does not match what was written" },
	/* A tenant's limits.spool_max. */
	[QR_TENANT_FULL] =		{ 452, "4.3.1",
	    "Insufficient system storage: the recipient's queue is full" },
	/* A recipient's tenant went with a reload. */
	[QR_CONFIG_CHANGED] =		{ 451, "4.3.0",
	    "Error: the configuration changed; try again" },
	[QR_ENVELOPE_REFUSED] =		{ 451, "4.3.0",
	    "Error: the envelope could not be verified" },
	[QR_LOCAL_RESOURCE] =		{ 451, "4.3.0",
	    "Error: local resource failure" },
	/* The sync or the store failed: final for the message. */
	[QR_COMMIT_ERROR] =		{ 451, "4.3.0",
	    "Error: local error in processing" },
	/* The tenant's servers accept nothing from us (defer-all). */
	[QR_TENANT_DEFERRED] =		{ 451, "4.3.0",
	    "Error: the recipient's own mail servers have accepted nothing "
	    "from this relay for too long; its mail is deferred, try again "
	    "later" },
};

const struct queue_reply *
queue_reply_get(enum queue_reply_id id)
{
	return &replies[id];
}

#ifdef RELAYD_FAULTS
/* A text that would make two replies on the client's side (faults.h). */
static int
spoil_reply(struct mw *w, const struct queue_reply *r)
{
	char text[256];

	if (!fault_error("queued-reply-crlf"))
		return 0;
	snprintf(text, sizeof(text), "%s\r\n250 2.0.0 Ok: queued as "
	    "0000000000000000", r->text);
	mw_str(w, text);
	return 1;
}
#else
#define spoil_reply(w, r)	0
#endif

/* The reply, as msg_queue.h has it: u32 code, str enhanced, str text. */
void
queue_reply_put(struct mw *w, enum queue_reply_id id)
{
	const struct queue_reply *r = &replies[id];

	mw_u32(w, (uint32_t)r->code);
	mw_str(w, r->enh);
	if (!spoil_reply(w, r))
		mw_str(w, r->text);
}
