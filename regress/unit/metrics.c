/*
 * metrics: the HTTP request heads metricsd serves or refuses
 * (metricsd/http_parse.c), samples written and read back (common/
 * metrics.c), the reader's refusals, label escaping, and a rendering
 * with each family once (metricsd/mxd_render.c).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "metricsd/metricsd.h"
#include "msg_metrics.h"
#include "tap.h"

static void
head(const char *s, int want, const char *what)
{
	struct http_req	r;
	int		rv = http_parse(s, strlen(s), &r);

	if (want == HTTP_MORE)
		is_int(rv, HTTP_MORE, "%s: wants more", what);
	else
		is_int(rv == 0 ? r.status : rv, want, "%s: %d", what, want);
}

static void
heads(void)
{
	head("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 200, "GET 1.1");
	head("GET /metrics HTTP/1.0\n\n", 200, "GET 1.0, bare LF");
	head("GET /metrics?x HTTP/1.1\r\n\r\n", 200, "a query");
	head("GET /metrics HTTP/1.1\r\nHost: a\r\n", HTTP_MORE, "no end");
	head("GET /metrics HTTP/1.1", HTTP_MORE, "no line end");
	head("POST /metrics HTTP/1.1\r\n\r\n", 405, "POST");
	head("get /metrics HTTP/1.1\r\n\r\n", 405, "a method is case-sensitive");
	head("GET / HTTP/1.1\r\n\r\n", 404, "another path");
	head("GET /metrics/ HTTP/1.1\r\n\r\n", 404, "a longer path");
	head("GET /metrics HTTP/2.0\r\n\r\n", 400, "HTTP/2.0");
	head("GET /metrics HTTP/1.1 \r\n\r\n", 400, "a space after");
	head("GET  /metrics HTTP/1.1\r\n\r\n", 400, "two spaces");
	head("GET metrics HTTP/1.1\r\n\r\n", 400, "no slash");
	head("GET /metrics\r\n\r\n", 400, "no version");
	head("\r\n\r\n", 400, "an empty line");
	head("GET /me\x01trics HTTP/1.1\r\n\r\n", 400, "a control");
	head("GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", 400, "no colon");
	head("GET /metrics HTTP/1.1\r\n: v\r\n\r\n", 400, "no name");
	head("GET /metrics HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400, "DEL");
	head("GET /metrics HTTP/1.1\r\n x: y\r\n\r\n", 400, "obs-fold");
	head("GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "a bare CR");
}

struct frames {
	uint8_t		 buf[8][IMSG_MAX_PAYLOAD];
	size_t		 len[8];
	int		 n;
};

static int
keep(void *arg, const void *p, size_t len)
{
	struct frames *f = arg;

	if (f->n == 8)
		return -1;
	memcpy(f->buf[f->n], p, len);
	f->len[f->n++] = len;
	return 0;
}

static int
count(void *arg, const struct mx_sample *s)
{
	(void)s;
	(*(int *)arg)++;
	return 0;
}

static void
bad_frame(void (*fill)(struct mw *), const char *what)
{
	struct mw	 w;
	const char	*why = NULL;
	int		 n = 0;

	mw_init(&w);
	fill(&w);
	ok(mx_decode(w.buf, w.len, count, &n, &why) == -1 && why != NULL,
	    "refused: %s (%s)", what, why ? why : "accepted");
}

static void
sample(struct mw *w, const char *name, uint8_t type, uint32_t fam,
    const char *l1, const char *v1, const char *l2)
{
	mw_str(w, name);
	mw_u8(w, type);
	mw_u32(w, fam);
	mw_u8(w, l1 == NULL ? 0 : l2 == NULL ? 1 : 2);
	if (l1 != NULL) {
		mw_str(w, l1);
		mw_str(w, v1);
	}
	if (l2 != NULL) {
		mw_str(w, l2);
		mw_str(w, "x");
	}
	mw_u64(w, 1);
}

static void
f_name(struct mw *w)
{
	sample(w, "relayd up", MX_GAUGE, MXF_UP, NULL, NULL, NULL);
}

static void
f_family(struct mw *w)
{
	sample(w, "relayd_up", MX_GAUGE, MXF_DNS_HITS, NULL, NULL, NULL);
}

static void
f_type(struct mw *w)
{
	sample(w, "relayd_up", MX_COUNTER, MXF_UP, NULL, NULL, NULL);
}

static void
f_range(struct mw *w)
{
	sample(w, "relayd_up", MX_GAUGE, MXF_MAX, NULL, NULL, NULL);
}

static void
f_label(struct mw *w)
{
	sample(w, "relayd_up", MX_GAUGE, MXF_UP, "__name__", "x", NULL);
}

static void
f_twice(struct mw *w)
{
	sample(w, "relayd_up", MX_GAUGE, MXF_UP, "a", "x", "a");
}

static void
f_short(struct mw *w)
{
	sample(w, "relayd_up", MX_GAUGE, MXF_UP, NULL, NULL, NULL);
	w->len -= 3;
}

static void
f_many(struct mw *w)
{
	mw_str(w, "relayd_up");
	mw_u8(w, MX_GAUGE);
	mw_u32(w, MXF_UP);
	mw_u8(w, MX_LABELS_MAX + 1);
}

static void
samples(void)
{
	static struct frames	 f;
	struct mx_out		 o;
	struct mxd_collect	 col;
	struct evbuffer		*out;
	char			 name[16], esc[64], *text;
	int			 i, n = 0;
	const char		*why = "";

	mx_out_init(&o, keep, &f);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		mx_add1(&o, MXF_TENANT_IN, "tenant", name, (uint64_t)i);
	}
	mx_add1(&o, MXF_TENANT_IN, "tenant", "a\"b\\c\nd\x01", 7);
	mx_add0(&o, MXF_QUEUE_MESSAGES, 3);
	is_int(mx_out_finish(&o), 0, "1002 samples written");
	ok(f.n > 1, "in %d frames, each within a payload", f.n);
	for (i = 0; i < f.n; i++) {
		ok(f.len[i] <= IMSG_MAX_PAYLOAD - MX_WRAP_RESERVE,
		    "frame %d leaves room to wrap", i);
		if (mx_decode(f.buf[i], f.len[i], count, &n, &why) == -1)
			diag("frame %d: %s", i, why);
	}
	is_int(n, 1002, "and read back, all of them");

	bad_frame(f_name, "a name out of syntax");
	bad_frame(f_family, "a name not its family's");
	bad_frame(f_type, "a type not its family's");
	bad_frame(f_range, "a family out of range");
	bad_frame(f_label, "a reserved label");
	bad_frame(f_twice, "a label twice");
	bad_frame(f_short, "a sample cut short");
	bad_frame(f_many, "too many labels");

	mx_escape("a\"b\\c\nd\x01\xc3", esc, sizeof(esc));
	is_str(esc, "a\\\"b\\\\c\\nd??", "label values escaped");
	mx_escape("\"\"\"\"\"\"", esc, 8);
	is_str(esc, "\\\"\\\"\\\"", "escaping never splits an escape");
	ok(mx_valid_name("relayd_up:x") && !mx_valid_name("1a") &&
	    !mx_valid_name(""), "metric names");
	ok(mx_valid_label("tenant") && !mx_valid_label("a:b") &&
	    !mx_valid_label("__x"), "label names");

	memset(&col, 0, sizeof(col));
	for (i = 0; i < f.n; i++)
		mxd_collect_add(&col, PROC_QUEUED, f.buf[i], f.len[i], &why);
	/* The same frame again: each series must come out once. */
	mxd_collect_add(&col, PROC_QUEUED, f.buf[0], f.len[0], &why);
	col.ended[PROC_QUEUED] = col.asked[PROC_QUEUED] = 1;
	col.answered[PROC_QUEUED] = 1;
	out = evbuffer_new();
	is_int(mxd_render(&col, out), 0, "rendered");
	evbuffer_add(out, "", 1);
	text = (char *)evbuffer_pullup(out, -1);
	ok(strstr(text, "# TYPE relayd_messages_in_total counter\n") != NULL,
	    "a TYPE line");
	ok(strstr(strstr(text, "# TYPE relayd_messages_in_total") + 1,
	    "# TYPE relayd_messages_in_total") == NULL, "only one");
	ok(strstr(text, "relayd_messages_in_total{tenant=\"t0\"} 0\n") != NULL,
	    "a sample");
	ok(strstr(strstr(text, "{tenant=\"t0\"}") + 1, "{tenant=\"t0\"}") ==
	    NULL, "a series sent twice, rendered once");
	ok(strstr(text, "{tenant=\"a\\\"b\\\\c\\nd?\"} 7\n") != NULL,
	    "a label value escaped");
	ok(strstr(text, "relayd_up{process=\"queued\"} 1\n") != NULL,
	    "queued is up");
	ok(strstr(text, "relayd_scrape_incomplete 0\n") != NULL, "complete");
	evbuffer_free(out);
	mxd_collect_reset(&col);

	/* Samples of a process that did not end are left out. */
	memset(&col, 0, sizeof(col));
	mxd_collect_add(&col, PROC_QUEUED, f.buf[0], f.len[0], &why);
	col.asked[PROC_QUEUED] = 1;
	out = evbuffer_new();
	mxd_render(&col, out);
	evbuffer_add(out, "", 1);
	text = (char *)evbuffer_pullup(out, -1);
	ok(strstr(text, "relayd_messages_in_total") == NULL &&
	    strstr(text, "relayd_up{process=\"queued\"} 0\n") != NULL &&
	    strstr(text, "relayd_scrape_incomplete 1\n") != NULL,
	    "a process that did not end: left out, down, incomplete");
	evbuffer_free(out);
	mxd_collect_reset(&col);
}

int
main(void)
{
	heads();
	samples();
	return done_testing();
}
