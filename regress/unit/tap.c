/*
 * tap: minimal TAP producer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"

static int tap_n, tap_failed;

static int	vreport(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static int
vreport(int cond, const char *fmt, va_list ap)
{
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cond, fmt, ap);
	va_end(ap);
	return cond;
}

int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int cond;

	cond = got != NULL && want != NULL ? strcmp(got, want) == 0 :
	    got == want;
	va_start(ap, fmt);
	vreport(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("got \"%s\", want \"%s\"", got ? got : "(null)",
		    want ? want : "(null)");
	return cond;
}

int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("got %lld, want %lld", got, want);
	return got == want;
}

void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed > 0)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed > 0 ? 1 : 0;
}
