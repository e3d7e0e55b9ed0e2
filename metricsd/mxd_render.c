/*
 * mxd_render: a scrape's samples, checked as they come (mx_decode), and
 * rendered in the Prometheus text format 0.0.4: each family once, with
 * its # HELP and # TYPE lines before its samples, label values escaped,
 * a series given twice kept once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metricsd.h"

struct add_ctx {
	struct mxd_collect	*col;
	unsigned		 proc;
};

/* {a="b",c="d"}, escaped; "" without labels. */
static char *
labels_render(const struct mx_sample *s)
{
	char	buf[MX_LABELS_MAX * (MX_LABEL_MAX + 2 * MX_VALUE_MAX + 8) + 4];
	char	esc[2 * MX_VALUE_MAX];
	size_t	i, o = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; i < s->nlabels; i++) {
		mx_escape(s->lvalue[i], esc, sizeof(esc));
		n = snprintf(buf + o, sizeof(buf) - o, "%s%s=\"%s\"",
		    i == 0 ? "{" : ",", s->lname[i], esc);
		if (n < 0 || (size_t)n >= sizeof(buf) - o)
			return NULL;
		o += (size_t)n;
	}
	if (s->nlabels > 0 && strlcat(buf, "}", sizeof(buf)) >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

static int
add_one(void *arg, const struct mx_sample *s)
{
	struct add_ctx		*a = arg;
	struct mxd_collect	*col = a->col;
	struct mxd_sample	*p;
	size_t			 cap;

	if (col->n >= MXD_SAMPLES_MAX)
		return -1;
	if (col->n == col->cap) {
		cap = col->cap ? col->cap * 2 : 256;
		if ((p = reallocarray(col->s, cap, sizeof(*p))) == NULL)
			return -1;
		col->s = p;
		col->cap = cap;
	}
	p = &col->s[col->n];
	if ((p->labels = labels_render(s)) == NULL)
		return -1;
	p->family = s->family;
	p->proc = (uint8_t)a->proc;
	p->seq = (uint32_t)col->n;
	p->value = s->value;
	col->n++;
	return 0;
}

void
mxd_collect_reset(struct mxd_collect *col)
{
	size_t i;

	for (i = 0; i < col->n; i++)
		free(col->s[i].labels);
	free(col->s);
	memset(col, 0, sizeof(*col));
}

int
mxd_collect_add(struct mxd_collect *col, unsigned proc, const void *buf,
    size_t len, const char **why)
{
	struct add_ctx a = { col, proc };

	if (proc >= PROC_MAX || proc == PROC_METRICS || col->ended[proc]) {
		*why = "samples of no process asked";
		return -1;
	}
	if (col->bad[proc])
		return 0;
	if (mx_decode(buf, len, add_one, &a, why) == -1) {
		col->bad[proc] = 1;
		return -1;
	}
	return 0;
}

static int
sample_cmp(const void *a, const void *b)
{
	const struct mxd_sample	*x = a, *y = b;
	int			 c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if ((c = strcmp(x->labels, y->labels)) != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
usable(const struct mxd_collect *col, const struct mxd_sample *s)
{
	return col->ended[s->proc] && !col->bad[s->proc];
}

/* metricsd's own: who answered, and whether the scrape is whole. */
static int
mxd_own_samples(struct mxd_collect *col)
{
	struct add_ctx		 a = { col, PROC_PARENT };
	struct mx_sample	 s;
	unsigned		 i, incomplete = 0;

	for (i = 0; i < PROC_MAX; i++) {
		int up = i == PROC_METRICS || (col->asked[i] &&
		    col->answered[i] && col->ended[i] && !col->bad[i]);

		if (i != PROC_METRICS && !col->asked[i])
			continue;
		incomplete |= !up;
		memset(&s, 0, sizeof(s));
		s.family = MXF_UP;
		s.nlabels = 1;
		strlcpy(s.lname[0], "process", sizeof(s.lname[0]));
		strlcpy(s.lvalue[0], proc_name((enum proc_id)i),
		    sizeof(s.lvalue[0]));
		s.value = (uint64_t)up;
		if (add_one(&a, &s) == -1)
			return -1;
	}
	memset(&s, 0, sizeof(s));
	s.family = MXF_SCRAPE_INCOMPLETE;
	s.value = incomplete;
	return add_one(&a, &s);
}

int
mxd_render(struct mxd_collect *col, struct evbuffer *out)
{
	const struct mx_def	*d;
	const struct mxd_sample	*s, *prev = NULL;
	size_t			 i;
	uint32_t		 fam = MXF_MAX;
	int			 rv = 0;

	/* Its own samples count as the parent's, which always "ends". */
	col->ended[PROC_PARENT] = 1;
	if (mxd_own_samples(col) == -1)
		return -1;
	qsort(col->s, col->n, sizeof(*col->s), sample_cmp);
	for (i = 0; i < col->n && rv != -1; i++) {
		s = &col->s[i];
		if (!usable(col, s))
			continue;
		if (prev != NULL && prev->family == s->family &&
		    strcmp(prev->labels, s->labels) == 0)
			continue;	/* a series twice: the first stays */
		prev = s;
		d = &mx_families[s->family];
		if (s->family != fam) {
			fam = s->family;
			rv = evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s "
			    "%s\n", d->name, d->help, d->name,
			    d->type == MX_COUNTER ? "counter" : "gauge");
			if (rv == -1)
				break;
		}
		rv = evbuffer_add_printf(out, "%s%s %llu\n", d->name,
		    s->labels, (unsigned long long)s->value);
	}
	return rv == -1 ? -1 : 0;
}
