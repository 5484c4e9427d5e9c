/*
 * notify.c - the sd_notify protocol without libsystemd: systemd passes a
 * datagram socket's address in NOTIFY_SOCKET ("/run/systemd/notify", or
 * "@name" for the abstract namespace) and reads "KEY=VALUE" lines from
 * it.  Sending one datagram needs no library, and qsched then builds the
 * same with or without systemd.  Every send is best effort: a lost
 * message must never stop the scheduler.
 */
#include "qsched.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int			 notify_fd = -1;
static struct sockaddr_un	 notify_addr;
static socklen_t		 notify_addrlen;
static bool			 notify_failed;

int
notify_init(char *err, size_t errlen)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (path == NULL || *path == '\0')
		return (0);
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof notify_addr.sun_path) {
		snprintf(err, errlen, "NOTIFY_SOCKET=\"%s\": not a socket path "
		    "or @abstract name", path);
		return (-1);
	}
	memset(&notify_addr, 0, sizeof notify_addr);
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@') {
		/* Abstract names are not NUL-terminated: the length says. */
		notify_addr.sun_path[0] = '\0';
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + len);
	} else
		notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + len + 1);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd == -1) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s",
		    strerror(errno));
		return (-1);
	}
	/* Plugins run in workers and must not speak for the service. */
	unsetenv("NOTIFY_SOCKET");
	return (0);
}

void
notify_send(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;
	int	 n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_addrlen) == -1 &&
	    !notify_failed) {
		/* Once: the service manager may be gone for good. */
		log_warn("sd_notify: %s", strerror(errno));
		notify_failed = true;
	}
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
