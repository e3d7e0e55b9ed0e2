/*
 * imsg codec: frame header validation.
 */
#include <string.h>

#include "imsg.h"

enum imsg_decode_result
imsg_decode(const uint8_t *buf, size_t len, struct imsg *out, size_t *used)
{
	struct imsg_hdr	hdr;

	if (len < IMSG_HDR_SIZE)
		return IMSG_DECODE_MORE;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.len < IMSG_HDR_SIZE || hdr.len > IMSG_MAX_FRAME)
		return IMSG_DECODE_BAD;
	if ((hdr.flags & ~IMSG_F_ALL) != 0 || hdr.type == 0)
		return IMSG_DECODE_BAD;
	if (len < hdr.len)
		return IMSG_DECODE_MORE;
	out->hdr = hdr;
	out->fd = -1;
	out->data = buf + IMSG_HDR_SIZE;
	out->datalen = hdr.len - IMSG_HDR_SIZE;
	*used = hdr.len;
	return IMSG_DECODE_FRAME;
}

int
imsg_encode_hdr(struct imsg_hdr *hdr, uint32_t type, uint64_t peerid,
    uint32_t pid, int has_fd, size_t len)
{
	if (len > IMSG_MAX_PAYLOAD || type == 0)
		return -1;
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = type;
	hdr->len = IMSG_HDR_SIZE + (uint32_t)len;
	hdr->flags = has_fd ? IMSG_F_FD : 0;
	hdr->pid = pid;
	hdr->peerid = peerid;
	return 0;
}
