/*
 * clock: real time, or in debug builds a faster one for the tests.
 */
#include <stdlib.h>
#include <time.h>

#include "clock.h"

#ifdef RELAYD_FAULTS
static int64_t
env_num(const char *name)
{
	const char	*s = getenv(name), *why;
	long long	 v;

	if (s == NULL)
		return 0;
	v = strtonum(s, 0, INT64_MAX / 4, &why);
	return why != NULL ? 0 : (int64_t)v;
}

static int64_t	 scale = -1, base;

static void
clock_init(void)
{
	if (scale != -1)
		return;
	scale = env_num("RELAYD_TIME_SCALE");
	base = env_num("RELAYD_TIME_BASE");
	if (scale <= 1 || base == 0)
		scale = 1;
}

int64_t
clock_at(int64_t real)
{
	clock_init();
	if (scale == 1 || real < base)
		return real;
	return base + (real - base) * scale;
}

int64_t
clock_now(void)
{
	return clock_at((int64_t)time(NULL));
}

int64_t
clock_scale(void)
{
	clock_init();
	return scale;
}
#else
int64_t
clock_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
clock_at(int64_t real)
{
	return real;
}

int64_t
clock_scale(void)
{
	return 1;
}
#endif
