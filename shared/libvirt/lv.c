/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "diagint/lv.h"

struct dg_lv {
	virConnectPtr conn;
	char *uri;
};

/* libvirt's default event loop is process-wide: one thread serves every connection of the process. */
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t loop_thread;
static unsigned loop_users;
static volatile bool loop_run;
static bool loop_registered;

static void *loop_main(void *arg)
{
	(void)arg;
	while (loop_run)
		virEventRunDefaultImpl();
	return NULL;
}

static void wake_noop(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

static void quiet_errors(void *ud, virErrorPtr e)
{
	/* Errors are reported once, by whoever handles the failing call, not printed by libvirt behind our back. */
	(void)ud;
	(void)e;
}

static int loop_acquire(struct dg_error *err)
{
	int r = 0;

	pthread_mutex_lock(&loop_lock);
	if (!loop_registered) {
		virSetErrorFunc(NULL, quiet_errors);
		if (virEventRegisterDefaultImpl() < 0) {
			r = dg_lv_error(err, DG_FAILED, "cannot start libvirt's event loop");
			goto out;
		}
		loop_registered = true;
	}
	if (loop_users++ == 0) {
		loop_run = true;
		if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
			loop_users--;
			loop_run = false;
			r = dg_error_set(err, DG_FAILED, "cannot start the libvirt event thread");
		}
	}
out:
	pthread_mutex_unlock(&loop_lock);
	return r;
}

static void loop_release(void)
{
	pthread_mutex_lock(&loop_lock);
	if (loop_users && --loop_users == 0) {
		loop_run = false;
		virEventAddTimeout(0, wake_noop, NULL, NULL);
		pthread_join(loop_thread, NULL);
	}
	pthread_mutex_unlock(&loop_lock);
}

static enum dg_status status_of(int code, enum dg_status fallback)
{
	switch (code) {
	case VIR_ERR_NO_DOMAIN:
		return DG_NOTFOUND;
	case VIR_ERR_OPERATION_INVALID:
		return DG_NOTFOUND;
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_AUTH_UNAVAILABLE:
	case VIR_ERR_OPERATION_DENIED:
	case VIR_ERR_ACCESS_DENIED:
		return DG_DENIED;
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_RPC:
	case VIR_ERR_SYSTEM_ERROR:
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_AGENT_UNRESPONSIVE:
		return fallback == DG_FAILED ? DG_UNAVAILABLE : fallback;
	default:
		return fallback;
	}
}

static int error_from(struct dg_error *err, virErrorPtr e, enum dg_status fallback, const char *fmt, va_list ap)
{
	char what[DG_ERROR_MSG_MAX];

	vsnprintf(what, sizeof(what), fmt, ap);
	if (!e)
		return dg_error_set(err, fallback, "%s", what);
	return dg_error_set(err, status_of(e->code, fallback), "%s: %s", what, e->message ? e->message : "unknown");
}

int dg_lv_error(struct dg_error *err, enum dg_status fallback, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = error_from(err, virGetLastError(), fallback, fmt, ap);
	va_end(ap);
	return r;
}

int dg_lv_error_from(struct dg_error *err, virErrorPtr e, enum dg_status fallback, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = error_from(err, e, fallback, fmt, ap);
	va_end(ap);
	return r;
}

int dg_lv_open(const char *uri, struct dg_lv **ret, struct dg_error *err)
{
	struct dg_lv *lv;
	virErrorPtr e;
	enum dg_status st;
	int r;

	r = loop_acquire(err);
	if (r < 0)
		return r;
	lv = calloc(1, sizeof(*lv));
	if (!lv) {
		loop_release();
		return dg_error_set(err, DG_FAILED, "out of memory");
	}
	lv->conn = virConnectOpen(uri);
	if (!lv->conn) {
		const char *shown = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");
		e = virGetLastError();
		st = DG_UNAVAILABLE;
		if (e && (e->code == VIR_ERR_NO_SUPPORT || e->code == VIR_ERR_INVALID_ARG ||
			  e->code == VIR_ERR_CONFIG_UNSUPPORTED || e->code == VIR_ERR_CONF_SYNTAX))
			st = DG_USAGE;
		else if (e && status_of(e->code, DG_FAILED) == DG_DENIED)
			st = DG_DENIED;
		r = dg_error_set(err, st,
				 "cannot connect to libvirt at %s: %s; check that libvirtd (or virtqemud) is running "
				 "there and the URI is right (--connect URI or LIBVIRT_DEFAULT_URI)",
				 shown ? shown : "the default URI (qemu:///system)",
				 e && e->message ? e->message : "unknown error");
		free(lv);
		loop_release();
		return r;
	}
	/* A daemon that dies mid-wait must not leave us waiting for an event forever. */
	virConnectSetKeepAlive(lv->conn, 5, 3);
	lv->uri = virConnectGetURI(lv->conn);
	*ret = lv;
	return 0;
}

void dg_lv_free(struct dg_lv *lv)
{
	if (!lv)
		return;
	if (lv->conn)
		virConnectClose(lv->conn);
	free(lv->uri);
	free(lv);
	loop_release();
}

virConnectPtr dg_lv_conn(struct dg_lv *lv)
{
	return lv->conn;
}

const char *dg_lv_uri(struct dg_lv *lv)
{
	return lv->uri ? lv->uri : "(unknown)";
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool not_found(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->code == VIR_ERR_NO_DOMAIN;
}

int dg_lv_lookup(struct dg_lv *lv, const char *ident, virDomainPtr *ret, struct dg_error *err)
{
	virDomainPtr dom = NULL;

	if (!ident || !*ident)
		return dg_error_set(err, DG_USAGE, "empty domain name: give a domain name, UUID or id");
	if (all_digits(ident) && strlen(ident) < 10) {
		dom = virDomainLookupByID(lv->conn, atoi(ident));
		if (!dom && !not_found())
			return dg_lv_error(err, DG_UNAVAILABLE, "cannot look up domain %s", ident);
	}
	/* A string that is not a valid UUID fails here with INVALID_ARG: it may still be a name. */
	if (!dom && strlen(ident) == VIR_UUID_STRING_BUFLEN - 1)
		dom = virDomainLookupByUUIDString(lv->conn, ident);
	if (!dom) {
		dom = virDomainLookupByName(lv->conn, ident);
		if (!dom && !not_found())
			return dg_lv_error(err, DG_UNAVAILABLE, "cannot look up domain %s", ident);
	}
	if (!dom)
		return dg_error_set(err, DG_NOTFOUND,
				    "domain '%s' not found at %s: check the name, UUID or id with "
				    "'virsh -c %s list --all'",
				    ident, dg_lv_uri(lv), dg_lv_uri(lv));
	*ret = dom;
	return 0;
}

void dg_lv_version_string(unsigned long packed, char *buf, size_t len)
{
	snprintf(buf, len, "%lu.%lu.%lu", packed / 1000000, (packed / 1000) % 1000, packed % 1000);
}
