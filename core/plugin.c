/*
 * plugin.c - the plugin loader, design section 4.
 *
 * A plugin runs with the daemon's database credentials, so what may be
 * loaded is strict: a plain name, a file that resolves inside plugin_dir,
 * nothing on the way writable by group or others.  A plugin built against
 * another ABI is refused with one line naming the descriptor field, the
 * value the core expects and the value it found, in the manner of
 * PostgreSQL's incompatible_module_error().
 *
 * Plugins are loaded in the parent and never unloaded after a successful
 * init(): workers inherit them across fork(), and configs point into their
 * option tables.  Loading the same file again (a reload) returns the same
 * struct plugin.
 */
#include "qsched.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct plugin	*plugin_list;

int
plugin_name_valid(const char *name)
{
	const char	*p;

	if (name == NULL || *name == '\0')
		return (0);
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			return (0);
	}
	return (1);
}

static struct plugin *
plugin_find(const char *path)
{
	struct plugin	*p;

	for (p = plugin_list; p != NULL; p = p->next) {
		if (strcmp(p->path, path) == 0)
			return (p);
	}
	return (NULL);
}

/* Refuse PATH if group or others may write it. */
static int
plugin_check_mode(const char *shown, const char *path, const char *what,
    char *err, size_t errlen)
{
	struct stat	 sb;

	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "plugin %s: %s: %s", shown, path,
		    strerror(errno));
		return (-1);
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "plugin %s: %s %s is writable by group "
		    "or others (mode %04o)", shown, what, path,
		    (unsigned)(sb.st_mode & 07777));
		return (-1);
	}
	return (0);
}

/*
 * REAL must be inside RDIR; it and every directory between it and RDIR
 * (a symlink may point into a subdirectory) must be safe.
 */
static int
plugin_check_path(const char *shown, const char *rdir, const char *real,
    char *err, size_t errlen)
{
	char		 dir[PATH_MAX];
	struct stat	 sb;
	size_t		 len = strlen(rdir);
	char		*slash;

	if (strncmp(real, rdir, len) != 0 ||
	    (real[len] != '/' && strcmp(rdir, "/") != 0)) {
		snprintf(err, errlen, "plugin %s: resolves to %s, outside "
		    "plugin_dir %s", shown, real, rdir);
		return (-1);
	}
	if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "plugin %s: %s is not a regular file",
		    shown, real);
		return (-1);
	}
	if (plugin_check_mode(shown, real, "file", err, errlen) != 0)
		return (-1);

	snprintf(dir, sizeof dir, "%s", real);
	while ((slash = strrchr(dir, '/')) != NULL && slash > dir) {
		*slash = '\0';
		if (strlen(dir) < len)
			break;
		if (plugin_check_mode(shown, dir, "directory", err,
		    errlen) != 0)
			return (-1);
	}
	return (0);
}

/* An option table must be usable as declared, defaults included. */
static int
plugin_check_options(const char *path, const struct qsched_option *table,
    char *err, size_t errlen)
{
	const struct qsched_option *o, *q;
	struct option_value v;
	char		 oerr[QSCHED_ERRLEN];
	int		 i, r;

	if (table == NULL)
		return (0);
	for (o = table, i = 0; o->name != NULL; o++, i++) {
		if (!plugin_name_valid(o->name)) {
			snprintf(err, errlen, "plugin %s: options[%d].name: "
			    "expected [a-z0-9_]+, found \"%s\"", path, i,
			    o->name);
			return (-1);
		}
		for (q = table; q != o; q++) {
			if (strcmp(q->name, o->name) == 0) {
				snprintf(err, errlen, "plugin %s: options[%d]."
				    "name: \"%s\" is declared twice", path, i,
				    o->name);
				return (-1);
			}
		}
		if (o->type < QSCHED_OPT_STRING ||
		    o->type > QSCHED_OPT_DURATION) {
			snprintf(err, errlen, "plugin %s: options[%d].type: "
			    "expected 1-4, found %d", path, i, (int)o->type);
			return (-1);
		}
		if (o->default_value == NULL)
			continue;
		memset(&v, 0, sizeof v);
		r = option_parse(o, o->default_value, &v, oerr, sizeof oerr);
		free(v.text);
		if (r != 0) {
			snprintf(err, errlen, "plugin %s: options[%d]."
			    "default_value: %s", path, i, oerr);
			return (-1);
		}
	}
	return (0);
}

/* Check the descriptor; on refusal say which field, expected and found. */
static int
plugin_check_desc(const char *path, const char *name,
    const struct qsched_plugin *d, char *err, size_t errlen)
{
	if (d->magic != QSCHED_PLUGIN_MAGIC) {
		snprintf(err, errlen, "plugin %s: magic: expected 0x%08x, "
		    "found 0x%08x", path, QSCHED_PLUGIN_MAGIC,
		    (unsigned)d->magic);
		return (-1);
	}
	if (d->abi_major != QSCHED_ABI_MAJOR) {
		snprintf(err, errlen, "plugin %s: abi_major: expected %d, "
		    "found %u", path, QSCHED_ABI_MAJOR, (unsigned)d->abi_major);
		return (-1);
	}
	if (d->abi_minor > QSCHED_ABI_MINOR) {
		snprintf(err, errlen, "plugin %s: abi_minor: expected %d or "
		    "older, found %u", path, QSCHED_ABI_MINOR,
		    (unsigned)d->abi_minor);
		return (-1);
	}
	/* Nothing past size may be read before this check. */
	if (d->size < QSCHED_PLUGIN_MIN_SIZE) {
		snprintf(err, errlen, "plugin %s: size: expected at least %zu, "
		    "found %u", path, (size_t)QSCHED_PLUGIN_MIN_SIZE,
		    (unsigned)d->size);
		return (-1);
	}
	if (d->name == NULL || strcmp(d->name, name) != 0) {
		snprintf(err, errlen, "plugin %s: name: expected \"%s\", "
		    "found \"%s\"", path, name, d->name == NULL ? "(null)" :
		    d->name);
		return (-1);
	}
	if (d->run == NULL) {
		snprintf(err, errlen, "plugin %s: run: expected a function, "
		    "found NULL", path);
		return (-1);
	}
	return (plugin_check_options(path, d->options, err, errlen));
}

struct plugin *
plugin_load(const char *dir, const char *name, char *err, size_t errlen)
{
	qsched_plugin_describe_fn *describe;
	const struct qsched_plugin *desc;
	struct plugin	*p, **tail;
	char		*path, *rdir = NULL, *real = NULL;
	void		*handle = NULL;
	int		 r;

	if (!plugin_name_valid(name)) {
		snprintf(err, errlen, "plugin \"%s\": invalid name (expected "
		    "[a-z0-9_]+)", name == NULL ? "(null)" : name);
		return (NULL);
	}
	xasprintf(&path, "%s/%s.so", dir, name);

	if ((rdir = realpath(dir, NULL)) == NULL) {
		snprintf(err, errlen, "plugin %s: plugin_dir %s: %s", path,
		    dir, strerror(errno));
		goto fail;
	}
	if (plugin_check_mode(path, rdir, "directory", err, errlen) != 0)
		goto fail;
	if ((real = realpath(path, NULL)) == NULL) {
		snprintf(err, errlen, "plugin %s: %s", path, strerror(errno));
		goto fail;
	}
	if (plugin_check_path(path, rdir, real, err, errlen) != 0)
		goto fail;

	/* Checked again on every load: a reload must see a changed mode. */
	if ((p = plugin_find(real)) != NULL) {
		if (strcmp(p->name, name) != 0) {
			snprintf(err, errlen, "plugin %s: name: expected "
			    "\"%s\", found \"%s\"", path, name, p->name);
			goto fail;
		}
		free(real);
		free(rdir);
		free(path);
		return (p);
	}

	/* Open the resolved file, the one whose path and modes were checked. */
	if ((handle = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "plugin %s: %s", path, dlerror());
		goto fail;
	}
	describe = (qsched_plugin_describe_fn *)dlsym(handle,
	    QSCHED_PLUGIN_SYMBOL);
	if (describe == NULL) {
		snprintf(err, errlen, "plugin %s: no symbol %s", path,
		    QSCHED_PLUGIN_SYMBOL);
		goto fail;
	}
	if ((desc = describe()) == NULL) {
		snprintf(err, errlen, "plugin %s: %s() returned NULL", path,
		    QSCHED_PLUGIN_SYMBOL);
		goto fail;
	}
	if (plugin_check_desc(path, name, desc, err, errlen) != 0)
		goto fail;
	if (desc->init != NULL && (r = desc->init(&host_services)) != 0) {
		snprintf(err, errlen, "plugin %s: init: expected 0, found %d",
		    path, r);
		goto fail;
	}

	p = xcalloc(1, sizeof *p);
	p->name = xstrdup(name);
	p->path = real;
	p->handle = handle;
	p->desc = desc;
	for (tail = &plugin_list; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = p;
	free(rdir);
	free(path);
	return (p);

fail:
	if (handle != NULL)
		dlclose(handle);
	free(real);
	free(rdir);
	free(path);
	return (NULL);
}

static int
plugin_scan_filter(const struct dirent *de)
{
	size_t	 len = strlen(de->d_name);

	return (len > 3 && strcmp(de->d_name + len - 3, ".so") == 0);
}

int
plugin_scan(const char *dir,
    void (*fn)(const char *name, struct plugin *p, const char *err,
    void *arg), void *arg)
{
	struct dirent	**list;
	struct plugin	*p;
	char		 err[QSCHED_ERRLEN], *name;
	int		 n, i;

	if ((n = scandir(dir, &list, plugin_scan_filter, alphasort)) < 0)
		return (-1);
	for (i = 0; i < n; i++) {
		name = xstrdup(list[i]->d_name);
		name[strlen(name) - 3] = '\0';
		err[0] = '\0';
		p = plugin_load(dir, name, err, sizeof err);
		fn(name, p, p == NULL ? err : NULL, arg);
		free(name);
		free(list[i]);
	}
	free(list);
	return (0);
}

/*
 * Call every fini() and forget the list; the objects stay mapped, so no
 * struct plugin may be used afterwards but descriptors stay readable.
 */
void
plugin_fini_all(void)
{
	struct plugin	*p, *next;

	for (p = plugin_list; p != NULL; p = next) {
		next = p->next;
		if (p->desc->fini != NULL)
			p->desc->fini(&host_services);
		free(p->name);
		free(p->path);
		free(p);
	}
	plugin_list = NULL;
}
