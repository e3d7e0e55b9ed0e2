/*
 * Typed marshalling for imsg payloads, OpenSMTPD's m_add/m_get with a tag
 * per field: a reader that expects a u32 where the writer put a string
 * fails loudly instead of misreading.  mr_end() insists the whole payload
 * was consumed; any error in between is sticky, so callers check once.
 */
#ifndef RELAYD_MARSHAL_H
#define RELAYD_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"

struct mw {
	uint8_t		*buf;		/* inl, or the heap when growing */
	size_t		 len;
	size_t		 cap;
	int		 err;
	int		 grow;
	uint8_t		 inl[IMSG_MAX_PAYLOAD];
};

struct mr {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	int		 err;
};

void	 mw_init(struct mw *);		/* one imsg payload at most */
void	 mw_init_grow(struct mw *);	/* unbounded, for storage */
void	 mw_release(struct mw *);
void	 mw_u8(struct mw *, uint8_t);
void	 mw_u32(struct mw *, uint32_t);
void	 mw_u64(struct mw *, uint64_t);
void	 mw_i64(struct mw *, int64_t);
void	 mw_str(struct mw *, const char *);	/* NULL is sent as "" */
void	 mw_data(struct mw *, const void *, size_t);
/* Room left for a string of n bytes, counting its tag and length. */
int	 mw_fits_str(const struct mw *, size_t n);

void	 mr_init(struct mr *, const void *, size_t);
uint8_t	 mr_u8(struct mr *);
uint32_t mr_u32(struct mr *);
uint64_t mr_u64(struct mr *);
int64_t	 mr_i64(struct mr *);
/* Copy a string into dst (NUL-terminated); too long or with NUL is an error. */
void	 mr_str(struct mr *, char *dst, size_t dstsz);
/* Allocate a copy; NULL on error (sets err). */
char	*mr_strdup(struct mr *);
/* Point at raw bytes inside the payload. */
const void *mr_data(struct mr *, size_t *len);
int	 mr_end(struct mr *);		/* 0 when all read without error */

#endif
