/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt domains, through the same interface as the clouds: virDomainInjectNMI, so monitoring (the collectd
 * plugin) can fire at on-premises guests with the same targets. The URI is --connect (or the configuration),
 * else libvirt's default. No capture here: that is `diagint inject`. */
#include <stdlib.h>
#include <string.h>

#include "diagint/lv.h"
#include "diagint/provider.h"

struct lvp {
	struct dg_lv *lv;
	const char *uri;
};

static bool valid_domain(const char *s, size_t len)
{
	/* A name, UUID or id; libvirt names cannot contain '/', which the grammar already keeps out. */
	(void)s;
	return len > 0 && len < 256;
}

static const struct dg_target_part parts[] = {
	{ "DOMAIN", "a libvirt domain name, UUID or id", valid_domain },
};

static int lvp_open(const struct dg_provider_env *env, void **ret, struct dg_error *err)
{
	struct lvp *p = calloc(1, sizeof(*p));

	if (!p)
		return dg_error_set(err, DG_FAILED, "out of memory");
	p->uri = env->libvirt_uri;
	*ret = p;
	return 0;
}

static int lvp_auth(void *ctx, const struct dg_provider_env *env, struct dg_error *err)
{
	struct lvp *p = ctx;

	(void)env;
	if (p->lv)
		return 0;
	return dg_lv_open(p->uri, &p->lv, err);
}

static void lvp_close(void *ctx)
{
	struct lvp *p = ctx;

	if (!p)
		return;
	dg_lv_free(p->lv);
	free(p);
}

static void lvp_direct(void *ctx, const struct dg_target *t, const struct dg_step *step, struct dg_verdict *v)
{
	struct lvp *p = ctx;
	virDomainPtr dom = NULL;
	int active;

	if (dg_lv_lookup(p->lv, t->part[0], &dom, &v->err) < 0)
		return;
	active = virDomainIsActive(dom);
	if (active < 0)
		dg_lv_error(&v->err, DG_FAILED, "cannot read the state of domain %s", t->part[0]);
	else if (!active)
		dg_verdict_set(v, DG_NOTFOUND, "domain %s is not running: an NMI needs a running guest (virsh start %s)",
			       t->part[0], t->part[0]);
	else if (step->dry_run)
		dg_verdict_set(v, DG_OK, "dry run: domain %s is running at %s; nothing was sent", t->part[0],
			       dg_lv_uri(p->lv));
	else if (virDomainInjectNMI(dom, 0) < 0)
		dg_lv_error(&v->err, DG_FAILED, "cannot inject an NMI into domain %s", t->part[0]);
	else
		dg_verdict_set(v, DG_OK, "NMI injected");
	virDomainFree(dom);
}

const struct dg_provider dg_provider_libvirt = {
	.name = "libvirt",
	.title = "libvirt virDomainInjectNMI (URI: --connect)",
	.example = "libvirt:web-1",
	.parts = parts,
	.n_parts = 1,
	.api = "libvirt",
	.open = lvp_open,
	.auth = lvp_auth,
	.close = lvp_close,
	.direct = lvp_direct,
};
