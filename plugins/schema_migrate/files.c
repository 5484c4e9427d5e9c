/*
 * files.c - the migration files: NNNN_name.sql in one directory, applied
 * in version order.  Each is read whole (they are small) and checksummed
 * as it is on disk, byte for byte.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define NO_TRANSACTION_MARK	"-- qsched:no-transaction"
#define PRISMA_NAME_MARK	"-- qsched:prisma-name "

/* "0005_indexes.sql" -> 5 and "indexes"; -1 for other names. */
static int
files_parse_name(const char *file, char **name)
{
	const char	*p = file, *us;
	size_t		 n = strlen(file);
	int		 v = 0;

	if (!isdigit((unsigned char)*p) || n < 6 ||
	    strcmp(file + n - 4, ".sql") != 0)
		return (-1);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > 99999999)
			return (-1);
		v = v * 10 + (*p - '0');
	}
	if (*p != '_' || p[1] == '.')
		return (-1);
	us = p + 1;
	for (p = us; p < file + n - 4; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    *p != '_')
			return (-1);
	*name = strndup(us, (size_t)(file + n - 4 - us));
	return (*name == NULL ? -1 : v);
}

static char *
files_read(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*buf = NULL;
	long	 size;

	if (f == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)size, f);
		buf[*len] = '\0';
		if (*len != (size_t)size || memchr(buf, '\0', *len) != NULL) {
			free(buf);
			buf = NULL;
			errno = EINVAL;
		}
	}
	fclose(f);
	return (buf);
}

/* A header line "-- qsched:prisma-name NAME" names the Prisma migration;
 * otherwise it is the version, zero-padded to Prisma's 14 digits. */
static char *
files_prisma_name(const struct migration *m)
{
	const char	*p = strstr(m->sql, PRISMA_NAME_MARK);
	char		*out;
	size_t		 n;

	if (p != NULL && (p == m->sql || p[-1] == '\n')) {
		p += strlen(PRISMA_NAME_MARK);
		n = strcspn(p, " \t\r\n");
		return (strndup(p, n));
	}
	if (asprintf(&out, "%014d_%s", m->version, m->name) == -1)
		return (NULL);
	return (out);
}

static int
files_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return ((x->version > y->version) - (x->version < y->version));
}

int
files_load(const struct qsched_host *host, struct qsched_run *run,
    const char *dir, struct migration_set *set)
{
	DIR		*d;
	struct dirent	*de;
	struct migration *m;
	char		*name;
	int		 v;

	memset(set, 0, sizeof *set);
	if ((d = opendir(dir)) == NULL) {
		host->message(run, "migrations directory %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((v = files_parse_name(de->d_name, &name)) == -1) {
			if (strlen(de->d_name) > 4 && strcmp(de->d_name +
			    strlen(de->d_name) - 4, ".sql") == 0)
				host->log(run, QSCHED_LOG_WARNING, "%s/%s: not "
				    "NNNN_name.sql ([a-z0-9_] name): ignored",
				    dir, de->d_name);
			continue;
		}
		m = realloc(set->m, (set->n + 1) * sizeof *set->m);
		if (m == NULL) {
			free(name);
			goto nomem;
		}
		set->m = m;
		m = &set->m[set->n++];
		memset(m, 0, sizeof *m);
		m->version = v;
		m->name = name;
		m->file = strdup(de->d_name);
		if (m->file == NULL || asprintf(&m->path, "%s/%s", dir,
		    de->d_name) == -1)
			goto nomem;
		if ((m->sql = files_read(m->path, &m->len)) == NULL) {
			host->message(run, "%s: %s", m->path, errno == EINVAL ?
			    "not a text file" : strerror(errno));
			goto fail;
		}
		sha256_hex(m->sql, m->len, m->checksum);
		m->no_transaction = strncmp(m->sql, NO_TRANSACTION_MARK,
		    strlen(NO_TRANSACTION_MARK)) == 0 &&
		    (m->sql[strlen(NO_TRANSACTION_MARK)] == '\n' ||
		    m->sql[strlen(NO_TRANSACTION_MARK)] == '\r');
		if ((m->prisma_name = files_prisma_name(m)) == NULL)
			goto nomem;
	}
	closedir(d);
	d = NULL;
	qsort(set->m, set->n, sizeof *set->m, files_cmp);
	for (size_t i = 1; i < set->n; i++)
		if (set->m[i].version == set->m[i - 1].version) {
			host->message(run, "%s and %s have the same version %d",
			    set->m[i - 1].file, set->m[i].file,
			    set->m[i].version);
			goto fail;
		}
	return (0);
nomem:
	host->message(run, "out of memory reading %s", dir);
fail:
	if (d != NULL)
		closedir(d);
	files_free(set);
	return (-1);
}

void
files_free(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->m[i].file);
		free(set->m[i].name);
		free(set->m[i].path);
		free(set->m[i].sql);
		free(set->m[i].prisma_name);
	}
	free(set->m);
	memset(set, 0, sizeof *set);
}
