/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "diagint/dumpstore.h"
#include "diagint/retention.h"
#include "diagint/units.h"

/* Which limit is broken, if any, for a capture of `need` bytes; text for the message. */
static const char *violation(const struct dg_capture_policy *p, uint64_t fs_size, uint64_t fs_free, uint64_t usage,
			     uint64_t need, char *why, size_t len)
{
	uint64_t keep = dg_size_limit_bytes(&p->keep_free, fs_size);
	uint64_t cap = dg_size_limit_bytes(&p->max_use, fs_size);
	char a[32], b[32], c[32];

	if (fs_free < need) {
		dg_format_bytes(need, false, a, sizeof(a));
		dg_format_bytes(fs_free, false, b, sizeof(b));
		snprintf(why, len, "not enough room for the dump: it needs %s, %s free", a, b);
		return why;
	}
	if (p->keep_free.set && fs_free - need < keep) {
		dg_format_bytes(need, false, a, sizeof(a));
		dg_format_bytes(fs_free, false, b, sizeof(b));
		dg_format_bytes(keep, false, c, sizeof(c));
		snprintf(why, len, "not enough room for the dump: it needs %s, %s free, and KeepFree keeps %s free", a,
			 b, c);
		return why;
	}
	if (p->max_use.set && usage + need > cap) {
		dg_format_bytes(need, false, a, sizeof(a));
		dg_format_bytes(usage, false, b, sizeof(b));
		dg_format_bytes(cap, false, c, sizeof(c));
		snprintf(why, len, "MaxUse %s would be exceeded: dumps use %s and this one needs %s", c, b, a);
		return why;
	}
	return NULL;
}

/* dry: the same decisions, with the removals only counted (a dry run says what it would remove). */
static int apply(struct dg_dumpdir *dir, const struct dg_capture_policy *p, uint64_t need, bool evict, bool dry,
		 dg_log_fn log, void *ud, struct dg_retention_result *ret, struct dg_error *err)
{
	struct dg_dump_list list = { 0 };
	struct dg_retention_result res = { 0 };
	struct statvfs st;
	char why[512];
	size_t next = 0;
	int r;

	if (fstatvfs(dg_dumpdir_fd(dir), &st) < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read free space of %s", dg_dumpdir_path(dir));
	res.fs_size = (uint64_t)st.f_blocks * st.f_frsize;
	res.fs_free = (uint64_t)st.f_bavail * st.f_frsize;
	r = dg_dumpstore_scan(dg_dumpdir_fd(dir), dg_dumpdir_path(dir), &list, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < list.n; i++)
		res.usage += list.v[i].allocated;

	/* Evict only when evicting can succeed: removing every old dump and still refusing loses them for nothing. */
	bool asked = evict;
	if (evict) {
		uint64_t all = 0;
		for (size_t i = 0; i < list.n; i++)
			all += list.v[i].allocated;
		if (violation(p, res.fs_size, res.fs_free + all, res.usage - all, need, why, sizeof(why)))
			evict = false;
	}
	/* Oldest first, whatever the domain: the newest evidence is what an operator is about to look at. */
	while (violation(p, res.fs_size, res.fs_free, res.usage, need, why, sizeof(why)) && evict && next < list.n) {
		struct dg_dump_entry *e = &list.v[next++];
		struct dg_error rerr = { 0 };

		if (!dry && dg_dumpstore_remove(dg_dumpdir_fd(dir), e->name, &rerr) < 0) {
			if (log)
				log(ud, DG_LOG_WARNING, rerr.message);
			continue;
		}
		res.evicted++;
		res.freed += e->allocated;
		res.usage -= e->allocated;
		/* Re-read rather than add: the filesystem may free blocks lazily (NFS, btrfs). */
		if (!dry && fstatvfs(dg_dumpdir_fd(dir), &st) == 0)
			res.fs_free = (uint64_t)st.f_bavail * st.f_frsize;
		else
			res.fs_free += e->allocated;
		if (log) {
			char msg[DG_DUMPNAME_MAX + 128];
			snprintf(msg, sizeof(msg), "retention: %s %s/%s to make room", dry ? "would remove" : "removed",
				 dg_dumpdir_path(dir), e->name);
			log(ud, DG_LOG_INFO, msg);
		}
	}
	r = 0;
	if (violation(p, res.fs_size, res.fs_free, res.usage, need, why, sizeof(why)))
		r = dg_error_set(err, DG_REFUSED, "%s in %s%s; free space there, raise the limit (MaxUse/KeepFree in "
				 "diagint.conf) or choose another destination",
				 why, dg_dumpdir_path(dir), asked && list.n ? " even after removing every older dump (none was removed)" : "");
	dg_dump_list_free(&list);
	if (ret)
		*ret = res;
	return r;
}

int dg_retention_apply(struct dg_dumpdir *dir, const struct dg_capture_policy *p, uint64_t need, bool evict,
		       dg_log_fn log, void *ud, struct dg_retention_result *ret, struct dg_error *err)
{
	return apply(dir, p, need, evict, false, log, ud, ret, err);
}

int dg_retention_plan(struct dg_dumpdir *dir, const struct dg_capture_policy *p, uint64_t need, dg_log_fn log,
		      void *ud, struct dg_retention_result *ret, struct dg_error *err)
{
	return apply(dir, p, need, true, true, log, ud, ret, err);
}

int dg_retention_flood_check(struct dg_dumpdir *dir, const struct dg_capture_policy *p, const char *prefix,
			     time_t now, struct dg_error *err)
{
	struct dg_dump_list list = { 0 };
	unsigned count = 0;
	const char *newest = NULL;
	int r;

	if (!p->flood_limit)
		return 0;
	r = dg_dumpstore_scan(dg_dumpdir_fd(dir), dg_dumpdir_path(dir), &list, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < list.n; i++) {
		const struct dg_dump_entry *e = &list.v[i];
		if (strcmp(e->prefix, prefix) != 0 || e->stamp + (time_t)p->flood_window <= now)
			continue;
		count++;
		newest = e->name;
	}
	if (count >= p->flood_limit)
		r = dg_error_set(err, DG_REFUSED,
				 "flood limit: %s already has %u dump(s) from the last %u s in %s (newest %s; FloodLimit "
				 "%u); wait, remove some with 'diagint dumps remove', or raise FloodLimit",
				 prefix, count, p->flood_window, dg_dumpdir_path(dir), newest, p->flood_limit);
	dg_dump_list_free(&list);
	return r;
}
