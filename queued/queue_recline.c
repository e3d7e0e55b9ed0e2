/*
 * queue_recline: one record, one line (queue_record.c).
 *
 *	ID TIME EVENT key=value ...
 *
 * ID is the queue id (16 hex digits), TIME the UTC time of the event
 * (2024-05-01T10:00:00Z), EVENT a word (accepted, sent, deferred,
 * bounced, expired, removed, notice, held, released, flushed, done).
 * A value is written bare when it holds no space, quote, backslash or
 * control; else between double quotes, with \" \\ and \xHH for the
 * controls.  Addresses are written <local@domain>.  A line is at most
 * REC_LINE_MAX octets: a longer reply is cut first.  So `grep ID` and
 * `grep -i 'to=<bob@'` find what an operator looks for, and the parser
 * below reads any line back, whatever a damaged file holds.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "queued.h"

static int
needs_quotes(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return 1;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
			return 1;
	return 0;
}

static void
rl_put(struct recline *rl, const char *s, size_t n)
{
	/* Room is kept for the '\n'. */
	if (rl->len + n > REC_LINE_MAX - 1) {
		n = REC_LINE_MAX - 1 - rl->len;
		rl->cut = 1;
	}
	memcpy(rl->buf + rl->len, s, n);
	rl->len += n;
}

static void
put_value(struct recline *rl, const char *v, size_t max)
{
	const unsigned char	*p = (const unsigned char *)v;
	char			 esc[8];
	size_t			 i;

	if (strnlen(v, max + 1) > max)
		rl->cut = 1;
	if (!needs_quotes(v)) {
		rl_put(rl, v, strnlen(v, max));
		return;
	}
	rl_put(rl, "\"", 1);
	for (i = 0; p[i] != '\0' && i < max; i++) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			rl_put(rl, esc, 2);
		} else if (p[i] < ' ' || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			rl_put(rl, esc, 4);
		} else
			rl_put(rl, (const char *)p + i, 1);
	}
	rl_put(rl, "\"", 1);
}

void
rl_begin(struct recline *rl, uint64_t id, int64_t when, const char *event)
{
	char	 ts[32];
	time_t	 t = (time_t)when;
	struct tm tm;

	rl->len = 0;
	rl->cut = 0;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rl->len = (size_t)snprintf(rl->buf, sizeof(rl->buf), "%016llx %s %s",
	    (unsigned long long)id, ts, event);
}

void
rl_str(struct recline *rl, const char *key, const char *val)
{
	rl_put(rl, " ", 1);
	rl_put(rl, key, strlen(key));
	rl_put(rl, "=", 1);
	put_value(rl, val != NULL ? val : "", REC_VALUE_MAX);
}

/* A reply or a reason: what the line has room for, and no more. */
void
rl_text(struct recline *rl, const char *key, const char *val)
{
	rl_put(rl, " ", 1);
	rl_put(rl, key, strlen(key));
	rl_put(rl, "=", 1);
	put_value(rl, val != NULL ? val : "", REC_TEXT_MAX);
}

void
rl_addr(struct recline *rl, const char *key, const char *addr)
{
	char buf[REC_VALUE_MAX + 3];

	snprintf(buf, sizeof(buf), "<%s>", addr != NULL ? addr : "");
	rl_str(rl, key, buf);
}

void
rl_num(struct recline *rl, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	rl_str(rl, key, buf);
}

void
rl_time(struct recline *rl, const char *key, int64_t when)
{
	char		ts[32];
	time_t		t = (time_t)when;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rl_str(rl, key, ts);
}

void
rl_end(struct recline *rl)
{
	rl->buf[rl->len++] = '\n';
	rl->buf[rl->len] = '\0';
}

static int
xdigit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A quoted value at *pp, unescaped in place; *pp past it. */
static char *
unquote(char **pp)
{
	char	*r = *pp + 1, *w = r, *start = r;
	int	 hi, lo;

	while (*r != '\0' && *r != '"') {
		if (*r == '\\' && r[1] == 'x' && r[2] != '\0' &&
		    (hi = xdigit_value(r[2])) != -1 &&
		    (lo = xdigit_value(r[3])) != -1) {
			*w++ = (char)(hi << 4 | lo);
			r += 4;
		} else if (*r == '\\' && r[1] != '\0') {
			*w++ = r[1];
			r += 2;
		} else
			*w++ = *r++;
	}
	*pp = *r == '"' ? r + 1 : r;
	*w = '\0';
	return start;
}

static char *
rl_word(char **pp)
{
	char *s = *pp, *e;

	if ((e = strchr(s, ' ')) != NULL) {
		*e = '\0';
		*pp = e + 1;
	} else
		*pp = s + strlen(s);
	return s;
}

int
rl_parse(const char *line, size_t len, struct recview *v)
{
	char	*p, *key, *eq;

	memset(v, 0, sizeof(*v));
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= sizeof(v->work) || memchr(line, '\0', len) != NULL)
		return -1;
	memcpy(v->work, line, len);
	v->work[len] = '\0';
	p = v->work;
	v->id = rl_word(&p);
	v->time = rl_word(&p);
	v->event = rl_word(&p);
	if (strlen(v->id) != 16 || *v->time == '\0' || *v->event == '\0')
		return -1;
	while (*p != '\0' && v->n < REC_FIELDS_MAX) {
		if (*p == ' ') {
			p++;
			continue;
		}
		key = p;
		if ((eq = strchr(p, '=')) == NULL)
			return -1;
		*eq = '\0';
		if (strchr(key, ' ') != NULL)
			return -1;
		p = eq + 1;
		v->keys[v->n] = key;
		if (*p == '"') {
			v->vals[v->n] = unquote(&p);
			if (*p == ' ')
				p++;
		} else
			v->vals[v->n] = rl_word(&p);
		v->n++;
	}
	return 0;
}

const char *
rv_get(const struct recview *v, const char *key)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->vals[i];
	return NULL;
}

/* An address value without its brackets, into buf. */
static const char *
bare(const char *val, char *buf, size_t sz)
{
	size_t n;

	if (val == NULL)
		return NULL;
	n = strlen(val);
	if (n >= 2 && val[0] == '<' && val[n - 1] == '>') {
		if (n - 2 >= sz)
			return NULL;
		memcpy(buf, val + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return val;
}

/* Does the record name this address, as sender or recipient? */
int
rv_names(const struct recview *v, const char *addr)
{
	char		 buf[REC_VALUE_MAX + 1];
	const char	*a;
	size_t		 i;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->keys[i], "from") != 0 &&
		    strcmp(v->keys[i], "to") != 0)
			continue;
		if ((a = bare(v->vals[i], buf, sizeof(buf))) != NULL &&
		    strcasecmp(a, addr) == 0)
			return 1;
	}
	return 0;
}

/* Is the tenant one of the record's (tenant=acme,beta)? */
int
rv_tenant(const struct recview *v, const char *tenant)
{
	const char	*t = rv_get(v, "tenant");
	size_t		 n = strlen(tenant), len;

	while (t != NULL && *t != '\0') {
		len = strcspn(t, ",");
		if (len == n && strncmp(t, tenant, n) == 0)
			return 1;
		t = t[len] == ',' ? t + len + 1 : NULL;
	}
	return 0;
}

/* A JSON object being written: err once something did not fit. */
struct jw {
	char	*out;
	size_t	 sz, o;
	int	 err;
};

static void
jw_raw(struct jw *j, const char *s, size_t n)
{
	if (j->o + n >= j->sz) {
		j->err = 1;
		return;
	}
	memcpy(j->out + j->o, s, n);
	j->o += n;
}

static void
jw_str(struct jw *j, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 esc[8];

	jw_raw(j, "\"", 1);
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			jw_raw(j, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			jw_raw(j, esc, 6);
		} else
			jw_raw(j, (const char *)p, 1);
	}
	jw_raw(j, "\"", 1);
}

/* A string as a JSON string, quotes and all; -1 if it does not fit. */
int
rl_json_str(const char *s, char *out, size_t sz)
{
	struct jw	 j = { out, sz, 0, 0 };

	jw_str(&j, s);
	if (j.err)
		return -1;
	out[j.o] = '\0';
	return 0;
}

static int
is_number(const char *key, const char *val)
{
	static const char *const nums[] = { "size", "attempt", "nrcpt",
	    "sent", "bounced", "removed", NULL };
	size_t i;

	if (*val == '\0' || strspn(val, "0123456789") != strlen(val) ||
	    strlen(val) > 15)
		return 0;
	for (i = 0; nums[i] != NULL; i++)
		if (strcmp(nums[i], key) == 0)
			return 1;
	return 0;
}

/* The record as one JSON object; -1 if it does not fit. */
int
rl_json(const struct recview *v, char *out, size_t sz)
{
	struct jw	 j = { out, sz, 0, 0 };
	char		 buf[REC_VALUE_MAX + 1];
	const char	*val;
	size_t		 i;

	jw_raw(&j, "{\"id\":", 6);
	jw_str(&j, v->id);
	jw_raw(&j, ",\"time\":", 8);
	jw_str(&j, v->time);
	jw_raw(&j, ",\"event\":", 9);
	jw_str(&j, v->event);
	for (i = 0; i < v->n; i++) {
		val = v->vals[i];
		if ((strcmp(v->keys[i], "from") == 0 ||
		    strcmp(v->keys[i], "to") == 0) &&
		    (val = bare(val, buf, sizeof(buf))) == NULL)
			val = v->vals[i];
		jw_raw(&j, ",", 1);
		jw_str(&j, v->keys[i]);
		jw_raw(&j, ":", 1);
		if (is_number(v->keys[i], val))
			jw_raw(&j, val, strlen(val));
		else
			jw_str(&j, val);
	}
	jw_raw(&j, "}", 1);
	if (j.err)
		return -1;
	out[j.o] = '\0';
	return 0;
}

void
lr_init(struct linereader *lr, int fd)
{
	lr->fd = fd;
	lr->pos = lr->len = lr->cur = 0;
	lr->eof = lr->nl = 0;
	lr->nread = 0;
}

/*
 * The next line without its '\n'.  A line longer than the buffer (a
 * damaged file) comes in pieces, each a line of its own: no record is
 * that long, and nothing is lost but its meaning.
 */
int
lr_peek(struct linereader *lr, const char **line, size_t *len)
{
	char	*nl;
	ssize_t	 n;

	for (;;) {
		if ((nl = memchr(lr->buf + lr->pos, '\n', lr->len -
		    lr->pos)) != NULL) {
			lr->cur = (size_t)(nl - (lr->buf + lr->pos));
			lr->nl = 1;
			break;
		}
		if (lr->eof || lr->len - lr->pos == sizeof(lr->buf)) {
			if (lr->pos == lr->len)
				return 0;
			lr->cur = lr->len - lr->pos;
			lr->nl = 0;
			break;
		}
		memmove(lr->buf, lr->buf + lr->pos, lr->len - lr->pos);
		lr->len -= lr->pos;
		lr->pos = 0;
		while ((n = read(lr->fd, lr->buf + lr->len, sizeof(lr->buf) -
		    lr->len)) == -1 && errno == EINTR)
			;
		if (n == -1)
			return -1;
		if (n == 0)
			lr->eof = 1;
		lr->len += (size_t)n;
		lr->nread += (uint64_t)n;
	}
	*line = lr->buf + lr->pos;
	*len = lr->cur;
	return 1;
}

void
lr_take(struct linereader *lr)
{
	lr->pos += lr->cur + lr->nl;
	lr->cur = 0;
	lr->nl = 0;
}
