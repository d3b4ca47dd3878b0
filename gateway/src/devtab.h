/*
 * devtab: the gateway's in-memory index of devices by id, an open-addressing hash table.
 *
 * Entries are caller-owned structs that begin with their id; the table stores pointers and
 * never frees what it holds. It grows by doubling when 3/4 full, so lookups stay O(1) for
 * 100k devices at 8 bytes of table per slot. Devices are never removed at run time (a
 * decommissioned device keeps its history), so there are no tombstones. Loop thread only.
 */
#ifndef GW_DEVTAB_H
#define GW_DEVTAB_H

#include <stddef.h>

struct gw_devtab {
	void **slots;          /* each points to an entry whose first member is its id */
	size_t cap;            /* power of two */
	size_t count;
	size_t id_offset;      /* offset of the NUL-terminated id in an entry */
};

void gw_devtab_init(struct gw_devtab *t, size_t id_offset);
void gw_devtab_free(struct gw_devtab *t);
void *gw_devtab_get(const struct gw_devtab *t, const char *id);
/* Adds an entry whose id is not in the table yet: 0, -EEXIST or -ENOMEM. */
int gw_devtab_add(struct gw_devtab *t, void *entry);
/* Calls fn for every entry, in no particular order. */
void gw_devtab_each(const struct gw_devtab *t, void (*fn)(void *arg, void *entry), void *arg);

#endif
