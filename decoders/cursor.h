/*
 * cursor.h - the one bounded reader every decoder goes through.
 *
 * A cursor is a window (p, len) over packet bytes.  Each accessor either
 * consumes exactly what it asked for and returns 0, or returns -1 and leaves
 * the cursor untouched, so a decoder can never read past the end of the
 * buffer it was given.  Multi-byte reads name their byte order and assemble
 * the value a byte at a time: packet bytes are never cast to a wider type or
 * to a struct (alignment and strict aliasing both forbid it).
 *
 * The shape follows OpenBSD's ibuf_get_n16() family: failure is a return code,
 * never a longjmp, because we run inside someone else's process.
 */
#ifndef CC_CURSOR_H
#define CC_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Return codes shared by every decoder in this directory. */
enum {
	CC_OK = 0,
	CC_ESHORT = -1,		/* the buffer ends before the structure does */
	CC_EBAD = -2,		/* a field holds a value the RFC forbids */
	CC_ENOTSUP = -3,	/* well-formed, but not something we can decode */
};

/* A byte range inside the caller's packet (never a copy). */
struct cc_bytes {
	const uint8_t *p;
	size_t len;
};

struct cc_cur {
	const uint8_t *p;
	size_t len;
};

static inline void cur_init(struct cc_cur *c, const uint8_t *p, size_t len)
{
	/* A NULL buffer is only meaningful when empty; treat it so. */
	c->p = p;
	c->len = p != NULL ? len : 0;
}

static inline size_t cur_left(const struct cc_cur *c)
{
	return c->len;
}

/* Advance without the NULL + 0 arithmetic that UBSan rightly rejects. */
static inline void cur_adv(struct cc_cur *c, size_t n)
{
	if (n == 0)
		return;
	c->p += n;
	c->len -= n;
}

static inline int cur_skip(struct cc_cur *c, size_t n)
{
	if (c->len < n)
		return -1;
	cur_adv(c, n);
	return 0;
}

static inline int cur_u8(struct cc_cur *c, uint8_t *v)
{
	if (c->len < 1)
		return -1;
	*v = c->p[0];
	cur_adv(c, 1);
	return 0;
}

static inline int cur_be16(struct cc_cur *c, uint16_t *v)
{
	if (c->len < 2)
		return -1;
	*v = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
	cur_adv(c, 2);
	return 0;
}

static inline int cur_be24(struct cc_cur *c, uint32_t *v)
{
	if (c->len < 3)
		return -1;
	*v = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
	cur_adv(c, 3);
	return 0;
}

static inline int cur_be32(struct cc_cur *c, uint32_t *v)
{
	if (c->len < 4)
		return -1;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	     (uint32_t)c->p[2] << 8 | c->p[3];
	cur_adv(c, 4);
	return 0;
}

/* Little-endian: only SCTP's CRC-32c field is sent this way (RFC 9260 §A). */
static inline int cur_le32(struct cc_cur *c, uint32_t *v)
{
	if (c->len < 4)
		return -1;
	*v = (uint32_t)c->p[3] << 24 | (uint32_t)c->p[2] << 16 |
	     (uint32_t)c->p[1] << 8 | c->p[0];
	cur_adv(c, 4);
	return 0;
}

static inline int cur_be48(struct cc_cur *c, uint64_t *v)
{
	uint64_t x = 0;

	if (c->len < 6)
		return -1;
	for (int i = 0; i < 6; i++)
		x = x << 8 | c->p[i];
	*v = x;
	cur_adv(c, 6);
	return 0;
}

static inline int cur_be64(struct cc_cur *c, uint64_t *v)
{
	uint64_t x = 0;

	if (c->len < 8)
		return -1;
	for (int i = 0; i < 8; i++)
		x = x << 8 | c->p[i];
	*v = x;
	cur_adv(c, 8);
	return 0;
}

/* Carve the next n bytes off as their own cursor and step past them. */
static inline int cur_sub(struct cc_cur *c, size_t n, struct cc_cur *sub)
{
	if (c->len < n)
		return -1;
	sub->p = c->p;
	sub->len = n;
	cur_adv(c, n);
	return 0;
}

/* Copy the next n bytes out. */
static inline int cur_bytes(struct cc_cur *c, void *dst, size_t n)
{
	if (c->len < n)
		return -1;
	if (n != 0)
		memcpy(dst, c->p, n);
	cur_adv(c, n);
	return 0;
}

/* Reference the next n bytes in place (a cur_sub that yields a cc_bytes). */
static inline int cur_ref(struct cc_cur *c, size_t n, struct cc_bytes *b)
{
	if (c->len < n)
		return -1;
	b->p = c->p;
	b->len = n;
	cur_adv(c, n);
	return 0;
}

/* Skip the zero to three bytes that pad n up to a multiple of four. */
static inline int cur_pad4(struct cc_cur *c, size_t n)
{
	return cur_skip(c, (4 - (n & 3)) & 3);
}

#endif /* CC_CURSOR_H */
