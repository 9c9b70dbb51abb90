/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "diagint/error.h"

/* The facts read from a domain's XML. */
struct dg_domxml {
	bool panic;                 /* a <panic> device */
	char panic_model[32];
	char on_crash[32];          /* "" when absent (libvirt: destroy) */
	bool agent_channel;         /* a virtio channel named org.qemu.guest_agent.0 */
	char agent_state[32];       /* its target's state attribute in live XML: "connected", "disconnected", "" */
	char os_cmdline[1024];      /* <os><cmdline> of direct kernel boot, "" when none */
	char serial_log[1024];      /* the file the serial port (or a file console) writes to, "" when none */
};
/* xml: a whole <domain> document. DG_FAILED when it cannot be parsed or has no <domain> root. */
int dg_domxml_parse(const char *xml, struct dg_domxml *ret, struct dg_error *err);
