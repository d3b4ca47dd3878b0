#include "devtab.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
hash(const char *s)
{
	/* FNV-1a: device ids are short and benign (the broker authenticated them). */
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static const char *
id_of(const struct gw_devtab *t, const void *entry)
{
	return (const char *)entry + t->id_offset;
}

void
gw_devtab_init(struct gw_devtab *t, size_t id_offset)
{
	memset(t, 0, sizeof(*t));
	t->id_offset = id_offset;
}

void
gw_devtab_free(struct gw_devtab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->count = 0;
}

void *
gw_devtab_get(const struct gw_devtab *t, const char *id)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = hash(id) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		void *e = t->slots[i];
		if (e == NULL)
			return NULL;
		if (strcmp(id_of(t, e), id) == 0)
			return e;
	}
}

static void
insert(void **slots, size_t cap, const struct gw_devtab *t, void *entry)
{
	size_t i = hash(id_of(t, entry)) & (cap - 1);
	while (slots[i] != NULL)
		i = (i + 1) & (cap - 1);
	slots[i] = entry;
}

static int
grow(struct gw_devtab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	void **slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			insert(slots, cap, t, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

int
gw_devtab_add(struct gw_devtab *t, void *entry)
{
	int rc;
	if (gw_devtab_get(t, id_of(t, entry)) != NULL)
		return -EEXIST;
	if ((t->count + 1) * 4 > t->cap * 3 && (rc = grow(t)) != 0)
		return rc;
	insert(t->slots, t->cap, t, entry);
	t->count++;
	return 0;
}

void
gw_devtab_each(const struct gw_devtab *t, void (*fn)(void *arg, void *entry), void *arg)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			fn(arg, t->slots[i]);
}
