/*
 * clock: the time that policy decisions (and the expiry of what they
 * store) are made with.
 *
 * In debug builds a test can make it run faster: RELAYD_TIME_SCALE=n
 * makes a second n seconds, counted from RELAYD_TIME_BASE (seconds since
 * the epoch, the real time at which both clocks agree), which a test sets
 * once and keeps across restarts so that stored times stay meaningful.
 * Production builds ignore both.
 */
#ifndef RELAYD_CLOCK_H
#define RELAYD_CLOCK_H

#include <stdint.h>

int64_t	 clock_now(void);
/* The clock's reading at a real time (a file's mtime). */
int64_t	 clock_at(int64_t real);
/* Clock seconds per real second: 1 but in a test's debug build. */
int64_t	 clock_scale(void);

#endif
