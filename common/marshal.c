/*
 * Typed marshalling with field tags.
 */
#include <stdlib.h>
#include <string.h>

#include "marshal.h"

enum {
	TAG_U8 = 0xa1,
	TAG_U32 = 0xa2,
	TAG_U64 = 0xa3,
	TAG_I64 = 0xa4,
	TAG_STR = 0xa5,
	TAG_DATA = 0xa6
};

#define STR_MAX	0xffffu

#define GROW_MAX	(256u * 1024 * 1024)

void
mw_init(struct mw *w)
{
	w->buf = w->inl;
	w->cap = sizeof(w->inl);
	w->len = 0;
	w->err = 0;
	w->grow = 0;
}

void
mw_init_grow(struct mw *w)
{
	mw_init(w);
	w->grow = 1;
}

void
mw_release(struct mw *w)
{
	if (w->buf != w->inl)
		free(w->buf);
	mw_init(w);
}

static int
mw_reserve(struct mw *w, size_t n)
{
	size_t	 cap;
	uint8_t	*p;

	if (n <= w->cap - w->len)
		return 0;
	if (!w->grow || n > GROW_MAX - w->len)
		return -1;
	for (cap = w->cap; cap - w->len < n; cap *= 2)
		;
	if (w->buf == w->inl) {
		if ((p = malloc(cap)) == NULL)
			return -1;
		memcpy(p, w->inl, w->len);
	} else if ((p = realloc(w->buf, cap)) == NULL)
		return -1;
	w->buf = p;
	w->cap = cap;
	return 0;
}

static void
mw_put(struct mw *w, const void *p, size_t n)
{
	if (w->err || mw_reserve(w, n) == -1) {
		w->err = 1;
		return;
	}
	if (n > 0)	/* mw_data(w, NULL, 0): memcpy from NULL is UB */
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
mw_tag(struct mw *w, uint8_t tag)
{
	mw_put(w, &tag, 1);
}

void
mw_u8(struct mw *w, uint8_t v)
{
	mw_tag(w, TAG_U8);
	mw_put(w, &v, sizeof(v));
}

void
mw_u32(struct mw *w, uint32_t v)
{
	mw_tag(w, TAG_U32);
	mw_put(w, &v, sizeof(v));
}

void
mw_u64(struct mw *w, uint64_t v)
{
	mw_tag(w, TAG_U64);
	mw_put(w, &v, sizeof(v));
}

void
mw_i64(struct mw *w, int64_t v)
{
	mw_tag(w, TAG_I64);
	mw_put(w, &v, sizeof(v));
}

static void
mw_blob(struct mw *w, uint8_t tag, const void *p, size_t n)
{
	uint16_t len;

	if (n > STR_MAX) {
		w->err = 1;
		return;
	}
	len = (uint16_t)n;
	mw_tag(w, tag);
	mw_put(w, &len, sizeof(len));
	mw_put(w, p, n);
}

void
mw_str(struct mw *w, const char *s)
{
	if (s == NULL)
		s = "";
	mw_blob(w, TAG_STR, s, strlen(s));
}

void
mw_data(struct mw *w, const void *p, size_t n)
{
	mw_blob(w, TAG_DATA, p, n);
}

int
mw_fits_str(const struct mw *w, size_t n)
{
	return !w->err && n <= STR_MAX && (w->grow || w->len + 3 + n <= w->cap);
}

void
mr_init(struct mr *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

static int
mr_get(struct mr *r, void *dst, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = 1;
		return -1;
	}
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int
mr_tag(struct mr *r, uint8_t want)
{
	uint8_t tag;

	if (mr_get(r, &tag, 1) == -1 || tag != want) {
		r->err = 1;
		return -1;
	}
	return 0;
}

uint8_t
mr_u8(struct mr *r)
{
	uint8_t v = 0;

	if (mr_tag(r, TAG_U8) == 0)
		mr_get(r, &v, sizeof(v));
	return r->err ? 0 : v;
}

uint32_t
mr_u32(struct mr *r)
{
	uint32_t v = 0;

	if (mr_tag(r, TAG_U32) == 0)
		mr_get(r, &v, sizeof(v));
	return r->err ? 0 : v;
}

uint64_t
mr_u64(struct mr *r)
{
	uint64_t v = 0;

	if (mr_tag(r, TAG_U64) == 0)
		mr_get(r, &v, sizeof(v));
	return r->err ? 0 : v;
}

int64_t
mr_i64(struct mr *r)
{
	int64_t v = 0;

	if (mr_tag(r, TAG_I64) == 0)
		mr_get(r, &v, sizeof(v));
	return r->err ? 0 : v;
}

static const uint8_t *
mr_blob(struct mr *r, uint8_t tag, size_t *lenp)
{
	uint16_t	 len;
	const uint8_t	*p;

	if (mr_tag(r, tag) == -1 || mr_get(r, &len, sizeof(len)) == -1)
		return NULL;
	if (len > r->len - r->off) {
		r->err = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += len;
	*lenp = len;
	return p;
}

void
mr_str(struct mr *r, char *dst, size_t dstsz)
{
	const uint8_t	*p;
	size_t		 len;

	if (dstsz > 0)
		dst[0] = '\0';
	if ((p = mr_blob(r, TAG_STR, &len)) == NULL)
		return;
	if (len >= dstsz || memchr(p, '\0', len) != NULL) {
		r->err = 1;
		return;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
}

char *
mr_strdup(struct mr *r)
{
	const uint8_t	*p;
	size_t		 len;
	char		*s;

	if ((p = mr_blob(r, TAG_STR, &len)) == NULL)
		return NULL;
	if (memchr(p, '\0', len) != NULL || (s = malloc(len + 1)) == NULL) {
		r->err = 1;
		return NULL;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

const void *
mr_data(struct mr *r, size_t *len)
{
	return mr_blob(r, TAG_DATA, len);
}

int
mr_end(struct mr *r)
{
	return (r->err || r->off != r->len) ? -1 : 0;
}
