/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probe kinds as words (Probes =, probes="..."): a leaf of the configuration. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "diagint/probe_kinds.h"

static const struct {
	const char *word;
	unsigned bit;
} kinds[] = {
	{ "heartbeat", DG_PROBE_HEARTBEAT },
	{ "cputime", DG_PROBE_CPUTIME },
	{ "agent", DG_PROBE_AGENT },
};

int dg_probe_kinds_parse(const char *list, unsigned *ret, struct dg_error *err)
{
	char buf[256], *save = NULL, *w;
	unsigned mask = 0;

	if (strlen(list) >= sizeof(buf))
		return dg_error_set(err, DG_USAGE, "the list of probes is too long");
	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		size_t i;

		if (!strcasecmp(w, "none"))
			continue;
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcasecmp(w, kinds[i].word))
				break;
		if (i == sizeof(kinds) / sizeof(kinds[0]))
			return dg_error_set(err, DG_USAGE, "unknown probe '%s' (known: heartbeat, cputime, agent, none)", w);
		mask |= kinds[i].bit;
	}
	*ret = mask;
	return 0;
}

const char *dg_probe_kinds_format(unsigned mask, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (mask & kinds[i].bit) {
			int n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", kinds[i].word);
			if (n < 0 || (size_t)n >= len - off)
				break;
			off += (size_t)n;
		}
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}
