#include "ioset.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* On Linux poll(2) and epoll(7) use the same bits for these; convert explicitly anyway. */
static uint32_t
to_epoll(short ev)
{
	return ((ev & POLLIN) ? EPOLLIN : 0u) | ((ev & POLLOUT) ? EPOLLOUT : 0u);
}

static short
to_poll(uint32_t ev)
{
	return (short)(((ev & EPOLLIN) ? POLLIN : 0) | ((ev & EPOLLOUT) ? POLLOUT : 0) |
	               ((ev & EPOLLERR) ? POLLERR : 0) | ((ev & EPOLLHUP) ? POLLHUP : 0));
}

int
sim_ioset_init(struct sim_ioset *s, size_t devices)
{
	memset(s, 0, sizeof(*s));
	s->ep = -1;
	s->devices = devices;
	s->out_cap = 1024;
	if ((s->reg = malloc(devices * sizeof(*s->reg))) == NULL ||
	    (s->out = calloc((size_t)s->out_cap, sizeof(struct epoll_event))) == NULL) {
		sim_ioset_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < devices; i++) {
		s->reg[i].fd = -1;
		s->reg[i].events = 0;
	}
	if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		int err = errno;
		sim_ioset_free(s);
		return -err;
	}
	return 0;
}

static long *
owner_of(struct sim_ioset *s, int fd)
{
	if ((size_t)fd >= s->owner_cap) {
		size_t cap = s->owner_cap ? s->owner_cap : 1024;
		long *o;
		while (cap <= (size_t)fd)
			cap *= 2;
		if ((o = realloc(s->owner, cap * sizeof(*o))) == NULL)
			return NULL;
		for (size_t i = s->owner_cap; i < cap; i++)
			o[i] = -1;
		s->owner = o;
		s->owner_cap = cap;
	}
	return &s->owner[fd];
}

void
sim_ioset_sync(struct sim_ioset *s, size_t dev, int fd, short events, int force)
{
	struct sim_ioset_reg *r = &s->reg[dev];
	struct epoll_event ev;
	long *own;

	if (events == 0)
		fd = -1;
	if (r->fd == fd && r->events == events && !force)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.data.u64 = dev;
	ev.events = to_epoll(events);
	if (r->fd >= 0 && r->fd != fd) {
		/* Ours still, or already closed and taken by another device. */
		if ((own = owner_of(s, r->fd)) != NULL && *own == (long)dev) {
			(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, r->fd, NULL);
			*own = -1;
		}
		r->fd = -1;
	}
	if (fd >= 0 && (own = owner_of(s, fd)) != NULL) {
		if (*own >= 0 && *own != (long)dev)
			s->reg[*own].fd = -1;   /* its socket closed; the number is ours now */
		if (r->fd == fd) {
			if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev) != 0)
				(void)epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
		} else if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
			(void)epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
		}
		*own = (long)dev;
	}
	r->fd = fd;
	r->events = fd >= 0 ? events : 0;
}

int
sim_ioset_wait(struct sim_ioset *s, int timeout_ms,
               void (*fn)(void *arg, size_t dev, short revents), void *arg)
{
	struct epoll_event *out = s->out;
	int n = epoll_wait(s->ep, out, s->out_cap, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		if (out[i].data.u64 < s->devices)
			fn(arg, (size_t)out[i].data.u64, to_poll(out[i].events));
	return n;
}

void
sim_ioset_free(struct sim_ioset *s)
{
	if (s->ep >= 0)
		close(s->ep);
	free(s->reg);
	free(s->owner);
	free(s->out);
	memset(s, 0, sizeof(*s));
	s->ep = -1;
}
