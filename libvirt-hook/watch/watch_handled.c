/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crashes already captured, as "UUID ID" lines beside the brake state (StateFile.crashes). A domain's id changes
 * with every start, so the pair names one crash. Without this a restarted watcher would capture again every
 * guest left crashed on purpose (AfterCapture = preserve) each time it starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch/watch-internal.h"

/* Old entries name guests long restarted; the newest are the ones that matter. */
#define HANDLED_MAX 1024

static void file_path(const struct dg_watch *w, char *buf, size_t len)
{
	snprintf(buf, len, "%s.crashes", w->wc.state_file);
}

void watch_handled_load(struct dg_watch *w)
{
	char p[PATH_MAX + 16], uuid[VIR_UUID_STRING_BUFLEN];
	FILE *f;
	int id;

	file_path(w, p, sizeof(p));
	f = fopen(p, "re");
	if (!f)
		return;
	while (fscanf(f, "%36s %d", uuid, &id) == 2) {
		struct watch_handled *h;
		if (w->nhandled >= HANDLED_MAX) {
			memmove(w->handled, w->handled + 1, (w->nhandled - 1) * sizeof(*w->handled));
			w->nhandled--;
		}
		h = realloc(w->handled, (w->nhandled + 1) * sizeof(*h));
		if (!h)
			break;
		w->handled = h;
		snprintf(h[w->nhandled].uuid, sizeof(h->uuid), "%s", uuid);
		h[w->nhandled++].id = id;
	}
	fclose(f);
}

bool watch_handled_has(const struct dg_watch *w, const char *uuid, int id)
{
	for (size_t i = 0; i < w->nhandled; i++)
		if (w->handled[i].id == id && !strcmp(w->handled[i].uuid, uuid))
			return true;
	return false;
}

void watch_handled_add(struct dg_watch *w, const char *uuid, int id)
{
	char p[PATH_MAX + 16], tmp[PATH_MAX + 32];
	struct watch_handled *h;
	FILE *f;

	if (id < 0 || watch_handled_has(w, uuid, id))
		return;
	if (w->nhandled >= HANDLED_MAX) {
		memmove(w->handled, w->handled + 1, (w->nhandled - 1) * sizeof(*w->handled));
		w->nhandled--;
	}
	h = realloc(w->handled, (w->nhandled + 1) * sizeof(*h));
	if (!h)
		return;
	w->handled = h;
	snprintf(h[w->nhandled].uuid, sizeof(h->uuid), "%s", uuid);
	h[w->nhandled++].id = id;

	/* Best effort: losing it costs one extra capture after a restart, never a missed one. */
	file_path(w, p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	f = fopen(tmp, "we");
	if (!f) {
		watch_log(w, DG_LOG_WARNING, "cannot write %s: a restarted watcher may capture a crash twice", tmp);
		return;
	}
	for (size_t i = 0; i < w->nhandled; i++)
		fprintf(f, "%s %d\n", w->handled[i].uuid, w->handled[i].id);
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, p) < 0) {
		watch_log(w, DG_LOG_WARNING, "cannot write %s: a restarted watcher may capture a crash twice", p);
		unlink(tmp);
	}
}
