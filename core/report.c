/*
 * report.c - how a worker tells its parent what happened: records of
 * "type (1 byte), length (4 bytes, big-endian), payload" on a pipe.  The
 * parent stays the only writer of qsched.runs, so a plugin's open
 * transaction never holds history rows, and a worker that dies leaves the
 * parent to record why.
 */
#include "qsched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPORT_MAX	(64 * 1024)

int
report_send(int fd, enum report_type type, const char *payload)
{
	size_t		 plen = strlen(payload), off = 0, total;
	unsigned char	 hdr[5];
	char		*buf;
	ssize_t		 n;

	if (plen > REPORT_MAX)
		plen = REPORT_MAX;
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(plen >> 24);
	hdr[2] = (unsigned char)(plen >> 16);
	hdr[3] = (unsigned char)(plen >> 8);
	hdr[4] = (unsigned char)plen;
	total = sizeof hdr + plen;
	buf = xmalloc(total);
	memcpy(buf, hdr, sizeof hdr);
	memcpy(buf + sizeof hdr, payload, plen);
	/* One write per record: small records are atomic on a pipe. */
	while (off < total) {
		n = write(fd, buf + off, total - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return (-1);
		}
		off += (size_t)n;
	}
	free(buf);
	return (0);
}

size_t
report_parse(const char *buf, size_t len, enum report_type *type,
    const char **payload, size_t *plen)
{
	const unsigned char	*u = (const unsigned char *)buf;
	size_t			 n;

	if (len < 5)
		return (0);
	n = ((size_t)u[1] << 24) | ((size_t)u[2] << 16) |
	    ((size_t)u[3] << 8) | u[4];
	if (len < 5 + n)
		return (0);
	*type = (enum report_type)u[0];
	*payload = buf + 5;
	*plen = n;
	return (5 + n);
}
