/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diagint/brakes.h"
#include "diagint/clock.h"

#define STATE_HEADER "# diagint brakes state v1"
/* History older than this is never needed again, whatever a later reload sets. */
#define KEEP_AT_LEAST 86400.0

struct target {
	char *name;
	double last;     /* last real interrupt; 0: none */
	double last_dry; /* last dry-run interrupt (memory only) */
	double cooldown; /* its own cooldown; < 0: the policy's */
	bool suspect;
};

struct action {
	double when;
	bool dry;
};

struct dg_brakes {
	pthread_mutex_t lock;
	struct dg_brakes_policy p;
	char *state_path;
	dg_brakes_clock_fn clock;
	void *clock_ud;
	struct target *targets;
	size_t ntargets;
	struct action *actions;
	size_t nactions;
	unsigned watched;
	unsigned in_flight;
};

void dg_brakes_policy_default(struct dg_brakes_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->cooldown = 3600;
	p->max_actions = 5;
	p->window = 3600;
	p->storm_percent = 50;
	p->storm_min_targets = 3;
	p->max_captures = 1;
}

static double wall_clock(void *ud)
{
	(void)ud;
	return dg_clock_real();
}

const char *dg_brakes_verdict_name(enum dg_brakes_verdict v)
{
	switch (v) {
	case DG_BRAKES_GO:
		return "go";
	case DG_BRAKES_DRY_RUN:
		return "dry-run";
	case DG_BRAKES_COOLDOWN:
		return "cooldown";
	case DG_BRAKES_RATE:
		return "rate";
	case DG_BRAKES_STORM:
		return "storm";
	case DG_BRAKES_BUSY:
		return "busy";
	}
	return "unknown";
}

static struct target *find(struct dg_brakes *b, const char *name, bool create)
{
	struct target *t;

	for (size_t i = 0; i < b->ntargets; i++)
		if (!strcmp(b->targets[i].name, name))
			return &b->targets[i];
	if (!create)
		return NULL;
	t = realloc(b->targets, (b->ntargets + 1) * sizeof(*t));
	if (!t)
		return NULL;
	b->targets = t;
	t = &b->targets[b->ntargets];
	memset(t, 0, sizeof(*t));
	t->cooldown = -1;
	t->name = strdup(name);
	if (!t->name)
		return NULL;
	b->ntargets++;
	return t;
}

static int add_action(struct dg_brakes *b, double when, bool dry)
{
	struct action *a = realloc(b->actions, (b->nactions + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	b->actions = a;
	b->actions[b->nactions++] = (struct action){ .when = when, .dry = dry };
	return 0;
}

/* Target names are domain names, which may hold any byte but NUL: spaces, tabs and newlines would break the
 * line format, so they (and '%') are written as %XX. */
static void escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == '%' || c == 0x7f)
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

static int unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			unsigned v;
			if (sscanf(s + 1, "%2x", &v) != 1 || v == 0 || !s[1] || !s[2])
				return -EINVAL;
			*w++ = (char)v;
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

static int parse_line(struct dg_brakes *b, char *line)
{
	char *end, *rest;
	double when;

	if (!strncmp(line, "cooldown ", 9)) {
		struct target *t;
		when = strtod(line + 9, &end);
		if (end == line + 9 || *end != ' ' || !isfinite(when) || when <= 0)
			return -EINVAL;
		rest = end + 1;
		if (!*rest || unescape(rest) < 0)
			return -EINVAL;
		t = find(b, rest, true);
		if (!t)
			return -ENOMEM;
		if (when > t->last)
			t->last = when;
		return 0;
	}
	if (!strncmp(line, "action ", 7)) {
		when = strtod(line + 7, &end);
		if (end == line + 7 || *end || !isfinite(when) || when <= 0)
			return -EINVAL;
		return add_action(b, when, false);
	}
	return -EINVAL;
}

static int load(struct dg_brakes *b, unsigned *skipped, struct dg_error *err)
{
	FILE *f = fopen(b->state_path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0;

	if (!f) {
		if (errno == ENOENT)
			return 0;
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot read brake state %s", b->state_path);
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!n || line[0] == '#')
			continue;
		r = parse_line(b, line);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			(*skipped)++;
		r = 0;
	}
	free(line);
	fclose(f);
	if (r == -ENOMEM)
		return dg_error_set(err, DG_FAILED, "out of memory reading brake state %s", b->state_path);
	return 0;
}

static double keep_for(const struct dg_brakes *b)
{
	double k = b->p.cooldown > b->p.window ? b->p.cooldown : b->p.window;
	return k > KEEP_AT_LEAST ? k : KEEP_AT_LEAST;
}

/* Written whole to a temporary file, flushed, renamed over the old one: a crash leaves the old or the new
 * state, never half of one. */
static int save(struct dg_brakes *b, double now, struct dg_error *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	FILE *f;
	int fd, r;

	if (!b->state_path)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", b->state_path) >= (int)sizeof(tmp))
		return dg_error_set(err, DG_FAILED, "brake state path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return dg_error_set_errno(err, DG_FAILED, errno, "cannot write brake state %s", tmp);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return dg_error_set(err, DG_FAILED, "out of memory writing brake state");
	}
	fprintf(f, "%s\n", STATE_HEADER);
	for (size_t i = 0; i < b->ntargets; i++) {
		if (!b->targets[i].last ||
		    (now - b->targets[i].last > keep_for(b) && now - b->targets[i].last > b->targets[i].cooldown))
			continue;
		fprintf(f, "cooldown %.3f ", b->targets[i].last);
		escape(f, b->targets[i].name);
		fputc('\n', f);
	}
	for (size_t i = 0; i < b->nactions; i++)
		if (!b->actions[i].dry && now - b->actions[i].when <= keep_for(b))
			fprintf(f, "action %.3f\n", b->actions[i].when);
	r = fflush(f) || fsync(fd) ? -errno : 0;
	if (fclose(f) && !r)
		r = -errno;
	if (!r && rename(tmp, b->state_path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		return dg_error_set_errno(err, DG_FAILED, -r, "cannot write brake state %s", b->state_path);
	}
	snprintf(dir, sizeof(dir), "%s", b->state_path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* The state file's directory (/var/lib/diagint by default) is made when missing, with its parents: 0755, the mode
 * the packages give it. The file itself is 0600. */
static int make_state_dir(const char *state_path, struct dg_error *err)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s", state_path) >= (int)sizeof(dir))
		return dg_error_set(err, DG_USAGE, "brake state path too long: choose a shorter StateFile");
	dirname(dir);
	for (char *p = dir + 1;; p++) {
		bool last = !*p;

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return dg_error_set_errno(err, DG_USAGE, errno, "cannot create %s, the directory of the brake "
						  "state %s: create it (mkdir -p -m 0755 %s), run as a user who may, or "
						  "set StateFile to a writable path", dir, state_path, dir);
		if (last)
			return 0;
		*p = '/';
	}
}

int dg_brakes_new(const struct dg_brakes_policy *p, const char *state_path, dg_brakes_clock_fn clock,
		  void *clock_userdata, struct dg_brakes **ret, unsigned *ret_skipped, struct dg_error *err)
{
	struct dg_brakes *b = calloc(1, sizeof(*b));
	unsigned skipped = 0;
	int r;

	if (!b)
		return dg_error_set(err, DG_FAILED, "out of memory");
	pthread_mutex_init(&b->lock, NULL);
	if (p)
		b->p = *p;
	else
		dg_brakes_policy_default(&b->p);
	b->clock = clock ? clock : wall_clock;
	b->clock_ud = clock_userdata;
	if (state_path) {
		b->state_path = strdup(state_path);
		if (!b->state_path) {
			dg_brakes_free(b);
			return dg_error_set(err, DG_FAILED, "out of memory");
		}
		r = make_state_dir(state_path, err);
		/* Prove now that the state can be read and written, dry run or not: a cooldown that cannot be kept
		 * refuses every action, and that must show at start, not at the first hang. */
		if (r == 0 && (load(b, &skipped, err) < 0 || save(b, b->clock(b->clock_ud), err) < 0)) {
			char why[sizeof(err->message)];

			snprintf(why, sizeof(why), "%s", err->message);
			r = dg_error_set(err, DG_USAGE, "%s: StateFile must be a file in a directory that the user diagint "
					 "runs as may write; fix that directory or set StateFile elsewhere", why);
		}
		if (r < 0) {
			dg_brakes_free(b);
			return r;
		}
	}
	if (ret_skipped)
		*ret_skipped = skipped;
	*ret = b;
	return 0;
}

void dg_brakes_free(struct dg_brakes *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->ntargets; i++)
		free(b->targets[i].name);
	free(b->targets);
	free(b->actions);
	free(b->state_path);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void dg_brakes_set_policy(struct dg_brakes *b, const struct dg_brakes_policy *p)
{
	pthread_mutex_lock(&b->lock);
	b->p = *p;
	pthread_mutex_unlock(&b->lock);
}

void dg_brakes_set_watched(struct dg_brakes *b, unsigned n)
{
	pthread_mutex_lock(&b->lock);
	b->watched = n;
	pthread_mutex_unlock(&b->lock);
}

void dg_brakes_set_suspect(struct dg_brakes *b, const char *target, bool suspect)
{
	struct target *t;

	pthread_mutex_lock(&b->lock);
	/* Out of memory while marking: the storm brake then counts one suspect fewer; never worse than that. */
	t = find(b, target, suspect);
	if (t)
		t->suspect = suspect;
	pthread_mutex_unlock(&b->lock);
}

void dg_brakes_forget(struct dg_brakes *b, const char *target)
{
	dg_brakes_set_suspect(b, target, false);
}

/* A clock that went backwards (NTP step, a wrong RTC at boot) must not turn a cooldown into a ban: a last
 * action "in the future" counts as just now. */
static double since(double now, double then)
{
	return now >= then ? now - then : 0;
}

static void prune(struct dg_brakes *b, double now)
{
	size_t w = 0;

	for (size_t i = 0; i < b->nactions; i++)
		if (since(now, b->actions[i].when) < keep_for(b))
			b->actions[w++] = b->actions[i];
	b->nactions = w;
}

static double cooldown_of(const struct dg_brakes *b, const struct target *t)
{
	return t->cooldown >= 0 ? t->cooldown : b->p.cooldown;
}

static double cooldown_left_locked(struct dg_brakes *b, const struct target *t, double now, bool dry)
{
	double last = t->last, cd = cooldown_of(b, t);

	if (dry && t->last_dry > last)
		last = t->last_dry;
	if (!last || cd <= 0)
		return 0;
	return since(now, last) < cd ? cd - since(now, last) : 0;
}

void dg_brakes_set_cooldown(struct dg_brakes *b, const char *target, double cooldown)
{
	struct target *t;

	pthread_mutex_lock(&b->lock);
	t = find(b, target, cooldown >= 0);
	if (t)
		t->cooldown = cooldown >= 0 ? cooldown : -1;
	pthread_mutex_unlock(&b->lock);
}

double dg_brakes_cooldown_left(struct dg_brakes *b, const char *target)
{
	struct target *t;
	double left = 0;

	pthread_mutex_lock(&b->lock);
	t = find(b, target, false);
	if (t)
		left = cooldown_left_locked(b, t, b->clock(b->clock_ud), b->p.dry_run);
	pthread_mutex_unlock(&b->lock);
	return left;
}

unsigned dg_brakes_captures_in_flight(struct dg_brakes *b)
{
	unsigned n;

	pthread_mutex_lock(&b->lock);
	n = b->in_flight;
	pthread_mutex_unlock(&b->lock);
	return n;
}

static void decide(struct dg_brakes_decision *d, enum dg_brakes_verdict v, double retry, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void decide(struct dg_brakes_decision *d, enum dg_brakes_verdict v, double retry, const char *fmt, ...)
{
	va_list ap;

	d->verdict = v;
	d->retry_after = retry;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

int dg_brakes_request(struct dg_brakes *b, const char *target, enum dg_brakes_action action, bool captures,
		      struct dg_brakes_decision *ret, struct dg_error *err)
{
	struct dg_brakes_decision d = { 0 };
	struct target *t;
	double now, oldest = 0, prev_last = 0;
	unsigned recent = 0, suspects = 0;
	bool dry;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	now = b->clock(b->clock_ud);
	dry = b->p.dry_run;
	prune(b, now);
	t = find(b, target, true);
	if (!t) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}

	/* Order: the brakes that say most about the host first, so a storm is reported as a storm and not as
	 * many unrelated cooldowns. */
	if (action == DG_BRAKES_INTERRUPT && b->p.storm_percent < 100 && b->watched >= b->p.storm_min_targets &&
	    b->watched > 0) {
		for (size_t i = 0; i < b->ntargets; i++)
			suspects += b->targets[i].suspect;
		if (!t->suspect)
			suspects++; /* the one asked about looks hung, or we would not be asked */
		if (100.0 * suspects / b->watched > b->p.storm_percent) {
			decide(&d, DG_BRAKES_STORM, 0,
			       "storm brake: %u of %u watched domains look hung at once (more than %.3g%%): a host "
			       "fault is more likely than guest faults; not interrupting any guest",
			       suspects, b->watched, b->p.storm_percent);
			goto out;
		}
	}
	if (action == DG_BRAKES_INTERRUPT) {
		double left = cooldown_left_locked(b, t, now, dry);
		if (left > 0) {
			decide(&d, DG_BRAKES_COOLDOWN, left,
			       "cooldown: %s was interrupted %.0f s ago; the next interrupt is allowed in %.0f s "
			       "(%s = %.0f s)",
			       target, cooldown_of(b, t) - left, left, t->cooldown >= 0 ? "its own cooldown" : "Cooldown",
			       cooldown_of(b, t));
			goto out;
		}
	}
	if (b->p.max_actions) {
		for (size_t i = 0; i < b->nactions; i++) {
			if ((b->actions[i].dry && !dry) || since(now, b->actions[i].when) >= b->p.window)
				continue;
			if (!recent++ || b->actions[i].when < oldest)
				oldest = b->actions[i].when;
		}
		if (recent >= b->p.max_actions) {
			decide(&d, DG_BRAKES_RATE, b->p.window - since(now, oldest),
			       "rate limit: %u actions on this host in the last %.0f s (MaxActions = %u)", recent,
			       b->p.window, b->p.max_actions);
			goto out;
		}
	}
	if (captures && b->p.max_captures && b->in_flight >= b->p.max_captures) {
		decide(&d, DG_BRAKES_BUSY, 0, "%u capture%s already running (MaxCaptures = %u)", b->in_flight,
		       b->in_flight == 1 ? "" : "s", b->p.max_captures);
		goto out;
	}

	if (add_action(b, now, dry) < 0) {
		r = dg_error_set(err, DG_FAILED, "out of memory");
		goto out;
	}
	prev_last = t->last;
	if (action == DG_BRAKES_INTERRUPT) {
		if (dry)
			t->last_dry = now;
		else
			t->last = now;
	}
	if (dry) {
		decide(&d, DG_BRAKES_DRY_RUN, 0, "dry run: every brake passed; doing nothing");
		goto out;
	}
	r = save(b, now, err);
	if (r < 0) {
		/* Not acting is the safe side: undo the record so memory and file agree. */
		b->nactions--;
		t->last = prev_last;
		goto out;
	}
	if (captures)
		b->in_flight++;
	decide(&d, DG_BRAKES_GO, 0, "every brake passed");
	d.granted_at = now;
	d.prev_last = prev_last;
out:
	pthread_mutex_unlock(&b->lock);
	if (r == 0 && ret)
		*ret = d;
	return r;
}

void dg_brakes_release(struct dg_brakes *b)
{
	pthread_mutex_lock(&b->lock);
	if (b->in_flight)
		b->in_flight--;
	pthread_mutex_unlock(&b->lock);
}

int dg_brakes_cancel(struct dg_brakes *b, const char *target, enum dg_brakes_action action, bool captures,
		     const struct dg_brakes_decision *d, struct dg_error *err)
{
	struct target *t;
	int r;

	if (!d || d->verdict != DG_BRAKES_GO)
		return 0;
	pthread_mutex_lock(&b->lock);
	t = find(b, target, false);
	/* Only our own mark: a later GO for the target (another thread) keeps its own. */
	if (t && action == DG_BRAKES_INTERRUPT && t->last == d->granted_at)
		t->last = d->prev_last;
	for (size_t i = b->nactions; i-- > 0;)
		if (!b->actions[i].dry && b->actions[i].when == d->granted_at) {
			b->actions[i] = b->actions[--b->nactions];
			break;
		}
	if (captures && b->in_flight)
		b->in_flight--;
	r = save(b, b->clock(b->clock_ud), err);
	pthread_mutex_unlock(&b->lock);
	return r;
}

void dg_brakes_get_policy(struct dg_brakes *b, const char *target, struct dg_brakes_policy *ret)
{
	struct target *t;

	pthread_mutex_lock(&b->lock);
	*ret = b->p;
	t = target ? find(b, target, false) : NULL;
	if (t && t->cooldown >= 0)
		ret->cooldown = t->cooldown;
	pthread_mutex_unlock(&b->lock);
}
