/*
 * policy_metrics: policyd's verdicts counted by stage (connect, mail,
 * rcpt), the check that decided ("none" when no check took part) and the
 * result (pass, defer, reject), for a metrics scrape (metrics.h).
 *
 * The checks are a handful of names, kept in a small array: a verdict
 * costs a short search by pointer (each name is a literal), by string
 * only when the pointer differs.
 */
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "log.h"
#include "metrics.h"
#include "msg_policy.h"
#include "policyd.h"

#define PMX_CHECKS	32
#define PMX_STAGES	3
#define PMX_RESULTS	3

struct pmx_check {
	const char	*name;
	uint64_t	 n[PMX_STAGES][PMX_RESULTS];
};

struct pmx {
	struct pmx_check c[PMX_CHECKS];
	size_t		 n;
};

static struct pmx_check *
check_slot(struct policyd *pd, const char *name)
{
	struct pmx	*p = pd->pmx;
	size_t		 i;

	if (p == NULL && (p = pd->pmx = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	for (i = 0; i < p->n; i++)
		if (p->c[i].name == name || strcmp(p->c[i].name, name) == 0)
			return &p->c[i];
	if (p->n == PMX_CHECKS)
		return NULL;
	p->c[p->n].name = name;
	return &p->c[p->n++];
}

void
pmx_verdict(struct policyd *pd, uint32_t qtype, const char *check, int code)
{
	struct pmx_check	*c;
	int			 stage, result;

	stage = qtype == M_P_CONNECT ? 0 : qtype == M_P_MAIL ? 1 : 2;
	result = code == 0 ? 0 : code < 500 ? 1 : 2;
	pd->verdicts[result]++;
	if ((c = check_slot(pd, check != NULL ? check : "none")) != NULL)
		c->n[stage][result]++;
}

void
policy_metrics(struct child *ch, struct mx_out *o)
{
	static const char *const stage[PMX_STAGES] = {
		"connect", "mail", "rcpt"
	};
	static const char *const result[PMX_RESULTS] = {
		"pass", "defer", "reject"
	};
	struct policyd		*pd = ch->state;
	struct mx_label		 l[3];
	const struct pmx_check	*c;
	size_t			 i;
	int			 s, r;

	if (pd->pmx == NULL)
		return;
	for (i = 0; i < pd->pmx->n; i++) {
		c = &pd->pmx->c[i];
		for (s = 0; s < PMX_STAGES; s++)
			for (r = 0; r < PMX_RESULTS; r++) {
				if (c->n[s][r] == 0)
					continue;
				l[0].name = "stage";
				l[0].value = stage[s];
				l[1].name = "check";
				l[1].value = c->name;
				l[2].name = "result";
				l[2].value = result[r];
				mx_add(o, MXF_POLICY_VERDICTS, l, 3,
				    c->n[s][r]);
			}
	}
}
