/*
 * fdpool: the bounded stack of ready spool files.
 */
#include <stdint.h>

#include "fdpool.h"
#include "tap.h"

int
main(void)
{
	struct fdpool	 p;
	uint64_t	 id;
	int		 fd, i;

	fdpool_init(&p, 3);
	is_int(fdpool_take(&p, &id, &fd), -1, "an empty pool has nothing");
	for (i = 0; i < 3; i++)
		is_int(fdpool_put(&p, 100 + i, 10 + i), 0, "put %d", i);
	is_int(fdpool_put(&p, 200, 20), -1, "a full pool refuses");
	is_int(fdpool_take(&p, &id, &fd), 0, "take");
	ok(id == 102 && fd == 12, "the last put is the first taken");
	is_int(fdpool_put(&p, 300, 30), 0, "room again after a take");
	for (i = 0; i < 3; i++)
		fdpool_take(&p, &id, &fd);
	ok(id == 100 && fd == 10, "the first put is the last taken");
	is_int(fdpool_take(&p, &id, &fd), -1, "empty again");

	fdpool_init(&p, 1000);
	for (i = 0; fdpool_put(&p, (uint64_t)i + 1, i) == 0; i++)
		;
	is_int(i, FDPOOL_CAP, "a larger max is held to the capacity");
	return done_testing();
}
