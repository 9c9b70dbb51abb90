/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `diagint doctor`'s dispatcher: a libvirt domain goes to doctor_libvirt.c, a cloud instance to doctor_cloud.c.
 * It sits above every checker, so the checkers share doctor.c (the run, the levels, the pure checks) without
 * calling back up. */
#include <string.h>

#include "doctor/doctor-internal.h"

int dg_doctor_check(const struct dg_target *t, const struct dg_doctor_opts *opts, dg_doctor_fn fn, void *userdata,
		    struct dg_doctor_summary *ret, struct dg_error *err)
{
	static const struct dg_doctor_opts none = { 0 };

	if (!opts)
		opts = &none;
	if (!strcmp(t->provider->name, "libvirt"))
		return dg_doctor_libvirt_target(t, opts, fn, userdata, ret, err);
	return dg_doctor_cloud(t, opts, fn, userdata, ret, err);
}
