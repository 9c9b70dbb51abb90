/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The core never prints: it hands messages to the host tool (stderr, collectd's log, pam_syslog, journal). */

enum dg_log_level {
	DG_LOG_INFO,
	DG_LOG_WARNING,
	DG_LOG_PROGRESS, /* repeated status of long work; a terminal may redraw it in place */
};

typedef void (*dg_log_fn)(void *userdata, enum dg_log_level level, const char *message);
