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

int64_t
clock_now(void)
{
	static int64_t	 scale = -1, base;
	int64_t		 now = (int64_t)time(NULL);

	if (scale == -1) {
		scale = env_num("RELAYD_TIME_SCALE");
		base = env_num("RELAYD_TIME_BASE");
	}
	if (scale <= 1 || base == 0 || now < base)
		return now;
	return base + (now - base) * scale;
}
#else
int64_t
clock_now(void)
{
	return (int64_t)time(NULL);
}
#endif
