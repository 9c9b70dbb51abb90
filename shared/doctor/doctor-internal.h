/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include "diagint/doctor.h"

/* One target's run: counts the checks and hands each to the caller. */
struct dg_doctor_run {
	const char *target;
	dg_doctor_fn fn;
	void *userdata;
	struct dg_doctor_summary sum;
};

/* fix: one sentence, ignored for DG_DOCTOR_OK. */
void dg_doctor_emit(struct dg_doctor_run *run, const char *name, enum dg_doctor_level level, const char *fix,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* r: 0 or the -status that stopped the run. Fills ret; turns failed checks into -DG_FAILED. */
int dg_doctor_finish(struct dg_doctor_run *run, int r, struct dg_doctor_summary *ret, struct dg_error *err);

int dg_doctor_libvirt_target(const struct dg_target *t, const struct dg_doctor_opts *opts, dg_doctor_fn fn,
			     void *userdata, struct dg_doctor_summary *ret, struct dg_error *err);
/* Extra reads for clouds, after a successful dry run: each emits its own checks (warnings when unreadable). */
void dg_doctor_aws_facts(struct dg_doctor_run *run, const struct dg_target *t, const struct dg_doctor_opts *o);
void dg_doctor_gcp_facts(struct dg_doctor_run *run, const struct dg_target *t, const struct dg_doctor_opts *o);
/* --endpoint PROVIDER=URL from the send options, or NULL. */
const char *dg_doctor_endpoint(const struct dg_doctor_opts *o, const char *provider);

int dg_doctor_cloud(const struct dg_target *t, const struct dg_doctor_opts *opts, dg_doctor_fn fn, void *userdata,
		    struct dg_doctor_summary *ret, struct dg_error *err);
