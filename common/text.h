/*
 * text: making words from elsewhere safe to show on a terminal or to
 * put on one line of a log or a protocol.
 */
#ifndef RELAYD_TEXT_H
#define RELAYD_TEXT_H

#include <stddef.h>

/*
 * In place: every C0 control and DEL, every C1 control (U+0080 to
 * U+009F), and every octet that is not part of well-formed UTF-8 becomes
 * '?'.  Other UTF-8 text is kept.  Returns how many were replaced.
 */
size_t	 text_clean(char *);

/*
 * Mail addresses out of a line (log.addresses: false): each word that
 * holds an '@' becomes "redacted", so "to=<bob@example.org>" reads
 * "to=<redacted>".  A word ends at a space or at one of ()<>[],;:='"
 * (a quoted local part and a bracketed literal are taken whole).  out
 * gets at most sz octets with the NUL, cut if longer; returns how many
 * words were redacted.
 */
size_t	 text_redact(const char *in, char *out, size_t sz);

#endif
