/*
 * Readiness of many simulated devices' sockets, by device index (epoll).
 *
 * tinyfleet-sim runs thousands of devices in one thread. Rebuilding and polling every
 * descriptor on each wake-up costs O(devices) per message, which at 2,500 devices per
 * process made the simulator, not the system under test, the bottleneck. Here each device's
 * descriptor and interest are registered once and changed only when they change; a wait
 * returns just the devices with something to do.
 *
 * A closed descriptor leaves epoll by itself and its number may come back for another
 * device: the set tracks which device owns each number, so a stale registration never
 * removes the new owner's.
 */
#ifndef TF_SIM_IOSET_H
#define TF_SIM_IOSET_H

#include <stddef.h>

struct sim_ioset_reg {
	int fd;            /* registered descriptor, -1: none */
	short events;      /* poll(2) bits registered */
};

struct sim_ioset {
	int ep;
	struct sim_ioset_reg *reg;   /* per device */
	size_t devices;
	long *owner;                 /* per descriptor: device index, -1: none */
	size_t owner_cap;
	void *out;                   /* struct epoll_event[out_cap] */
	int out_cap;
};

/* For `devices` devices. 0, or -errno. */
int sim_ioset_init(struct sim_ioset *s, size_t devices);

/* Device `dev` now waits on fd (-1: no socket) for events (poll(2) bits; 0: nothing).
 * force: register again even when fd and events look unchanged (a socket closed and
 * reopened under the same number left epoll with the old one; call with force while a
 * device is connecting). */
void sim_ioset_sync(struct sim_ioset *s, size_t dev, int fd, short events, int force);

/* Waits up to timeout_ms; calls fn(arg, dev, revents) for each ready device (revents in
 * poll(2) bits). Returns the number of ready devices, or -errno. */
int sim_ioset_wait(struct sim_ioset *s, int timeout_ms,
                   void (*fn)(void *arg, size_t dev, short revents), void *arg);

void sim_ioset_free(struct sim_ioset *s);

#endif
