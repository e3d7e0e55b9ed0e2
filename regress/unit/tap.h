/*
 * tap: the Test Anything Protocol for C unit tests, run by prove.
 */
#ifndef RELAYD_TAP_H
#define RELAYD_TAP_H

int	ok(int cond, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	is_str(const char *got, const char *want, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	is_int(long long got, long long want, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the plan and return the exit status for main(). */
int	done_testing(void);

#endif
