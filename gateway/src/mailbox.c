#include "mailbox.h"

#include <errno.h>

static struct gw_mail *
take_all(struct gw_mailbox *mb)
{
	struct gw_mail *all;
	pthread_mutex_lock(&mb->lock);
	all = mb->head;
	mb->head = mb->tail = NULL;
	mb->count = 0;
	pthread_mutex_unlock(&mb->lock);
	return all;
}

void
gw_mailbox_drain_now(struct gw_mailbox *mb)
{
	struct gw_mail *m = take_all(mb);

	while (m != NULL) {
		/* The drain callback may free the item: read the link first. */
		struct gw_mail *next = m->next;
		m->next = NULL;
		mb->drain(mb->arg, m);
		m = next;
	}
}

static void
on_async(uv_async_t *h)
{
	gw_mailbox_drain_now(h->data);
}

int
gw_mailbox_init(uv_loop_t *loop, struct gw_mailbox *mb, size_t max,
                gw_mailbox_drain_fn drain, void *arg)
{
	int rc;
	mb->head = mb->tail = NULL;
	mb->count = 0;
	mb->max = max ? max : 65536;
	mb->drain = drain;
	mb->arg = arg;
	mb->closed = NULL;
	if ((rc = pthread_mutex_init(&mb->lock, NULL)) != 0)
		return -rc;
	if ((rc = uv_async_init(loop, &mb->async, on_async)) != 0) {
		pthread_mutex_destroy(&mb->lock);
		return rc;
	}
	mb->async.data = mb;
	return 0;
}

/* wake_at 0: always wake the loop. */
static int
post(struct gw_mailbox *mb, struct gw_mail *item, int bounded, size_t wake_at)
{
	int wake;
	pthread_mutex_lock(&mb->lock);
	if (bounded && mb->count >= mb->max) {
		pthread_mutex_unlock(&mb->lock);
		return -EAGAIN;
	}
	item->next = NULL;
	if (mb->tail != NULL)
		mb->tail->next = item;
	else
		mb->head = item;
	mb->tail = item;
	mb->count++;
	wake = wake_at == 0 || mb->count >= wake_at;
	pthread_mutex_unlock(&mb->lock);
	/* Outside the lock: the loop may already be draining, which is fine. */
	if (wake)
		uv_async_send(&mb->async);
	return 0;
}

int
gw_mailbox_post(struct gw_mailbox *mb, struct gw_mail *item)
{
	return post(mb, item, 1, 0);
}

int
gw_mailbox_post_lazy(struct gw_mailbox *mb, struct gw_mail *item, size_t wake_at)
{
	return post(mb, item, 1, wake_at ? wake_at : 1);
}

void
gw_mailbox_post_always(struct gw_mailbox *mb, struct gw_mail *item)
{
	post(mb, item, 0, 0);
}

static void
on_closed(uv_handle_t *h)
{
	struct gw_mailbox *mb = h->data;
	pthread_mutex_destroy(&mb->lock);
	if (mb->closed != NULL)
		mb->closed(mb);
}

void
gw_mailbox_close(struct gw_mailbox *mb, gw_mailbox_drain_fn discard,
                 void (*closed)(struct gw_mailbox *))
{
	struct gw_mail *m = take_all(mb);
	while (m != NULL) {
		struct gw_mail *next = m->next;
		(discard != NULL ? discard : mb->drain)(mb->arg, m);
		m = next;
	}
	mb->closed = closed;
	uv_close((uv_handle_t *)&mb->async, on_closed);
}
