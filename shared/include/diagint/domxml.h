/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "diagint/error.h"

/* The facts read from a domain's XML: what the doctor checks, what the watcher's probes and the hook need. */
struct dg_domxml {
	char name[1024];            /* <name> as written ("" when absent); a longer one is cut */
	char uuid[40];              /* <uuid> as written, "" when absent */
	uint64_t memory_bytes;      /* <memory> in its unit (KiB when none); 0: absent, unknown unit or too large */
	bool panic;                 /* a <panic> device */
	char panic_model[32];
	char on_crash[32];          /* "" when absent (libvirt: destroy) */
	bool agent_channel;         /* a virtio channel named org.qemu.guest_agent.0 */
	char agent_state[32];       /* its target's state attribute in live XML: "connected", "disconnected", "" */
	char os_cmdline[1024];      /* <os><cmdline> of direct kernel boot, "" when none */
	char serial_log[1024];      /* the file the serial port (or a file console) writes to, "" when none */
	bool vmcoreinfo;            /* <features><vmcoreinfo/> (not state='off'): dumps carry VMCOREINFO */
};
/* xml: a whole <domain> document (len bytes). DG_FAILED when it cannot be parsed or has no <domain> root. */
int dg_domxml_parse_len(const char *xml, size_t len, struct dg_domxml *ret, struct dg_error *err);
/* The same for a NUL-terminated document. */
int dg_domxml_parse(const char *xml, struct dg_domxml *ret, struct dg_error *err);
