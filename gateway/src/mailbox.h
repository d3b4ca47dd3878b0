/*
 * mailbox: the one way foreign threads (Paho's) hand work to the libuv loop.
 *
 * Any thread may call gw_mailbox_post(); everything else is loop-thread only. Posted items
 * are delivered in order to the drain callback on the loop thread, which owns them from
 * then on. uv_async_send() calls coalesce, so one wake-up drains the whole mailbox.
 * The mailbox is bounded: a post beyond `max` items is refused (-EAGAIN) so the poster can
 * push back on its source (Paho redelivers a message its callback did not accept).
 *
 * A lazy post queues without waking the loop (each wake-up is an eventfd write on the
 * poster's side and an epoll return plus read on the loop's: per message, that is most of
 * what ingest costs). The loop collects lazy items with gw_mailbox_drain_now() on its own
 * timer, or with the next ordinary post (delivery stays in posting order), or when
 * `wake_at` items are waiting.
 */
#ifndef GW_MAILBOX_H
#define GW_MAILBOX_H

#include <pthread.h>
#include <stddef.h>

#include <uv.h>

/* Items embed this link as their first member. */
struct gw_mail {
	struct gw_mail *next;
};

typedef void (*gw_mailbox_drain_fn)(void *arg, struct gw_mail *item);

struct gw_mailbox {
	uv_async_t async;
	pthread_mutex_t lock;
	struct gw_mail *head, *tail;   /* guarded by lock */
	size_t count;                  /* guarded by lock */
	size_t max;
	gw_mailbox_drain_fn drain;
	void *arg;
	void (*closed)(struct gw_mailbox *);
};

/* max 0 means 65,536 items. */
int gw_mailbox_init(uv_loop_t *loop, struct gw_mailbox *mb, size_t max,
                    gw_mailbox_drain_fn drain, void *arg);
/* Any thread. 0, or -EAGAIN when full (the item stays the caller's). */
int gw_mailbox_post(struct gw_mailbox *mb, struct gw_mail *item);
/* Any thread. Like gw_mailbox_post(), but wakes the loop only when wake_at items wait. */
int gw_mailbox_post_lazy(struct gw_mailbox *mb, struct gw_mail *item, size_t wake_at);
/* Loop thread. Delivers whatever is queued now (lazy items included). */
void gw_mailbox_drain_now(struct gw_mailbox *mb);
/* Any thread. Ignores the bound: for rare control news (connected, lost) that must not be
 * dropped or deferred. */
void gw_mailbox_post_always(struct gw_mailbox *mb, struct gw_mail *item);
/* Loop thread. Items still queued are passed to `discard` (may be NULL: then to drain);
 * `closed` runs once the handle is closed and the memory may go. Posting after close
 * starts is a bug in the caller (the poster must be stopped first). */
void gw_mailbox_close(struct gw_mailbox *mb, gw_mailbox_drain_fn discard,
                      void (*closed)(struct gw_mailbox *));

#endif
