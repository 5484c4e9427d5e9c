/*
 * config_parse.h - what the three parts of the jobs.conf reader share
 * while one file is being loaded: config.c (libconfuse's tables and
 * callbacks, and config_load), config_read.c (the text libconfuse is
 * given) and config_jobs.c (jobs built from the parse, checked as a
 * whole); config_parse.c implements it.
 */
#ifndef CONFIG_PARSE_H
#define CONFIG_PARSE_H

#include <confuse.h>

#include "qsched.h"

/*
 * An empty section nobody writes (the name cannot be an unquoted word):
 * libconfuse creates it when "job NAME {" is read, with that line, and
 * nothing moves it later, unlike the job section's own line counter.
 */
#define CONFIG_MARK		"(line)"

/* Where a key was set: (section, key) -> line. */
struct config_line {
	cfg_t		*sec;
	char		*key;
	int		 line;
};

/* One load in progress. */
struct config_parse {
	const char	*path;
	char		*err;
	size_t		 errlen;
	bool		 failed;
	struct config_line *lines;
	size_t		 nlines;
	size_t		 alines;
};

/* config_parse.c */
/* Record the first error, "PATH:LINE: message" (no line when LINE is 0). */
void	 config_fail(struct config_parse *, int line, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* The line table: where KEY of section SEC was set. */
struct config_line *config_find_line(struct config_parse *, cfg_t *sec,
	    const char *key);
void	 config_note_line(struct config_parse *, cfg_t *sec, const char *key,
	    int line);
/* The line KEY of section SEC was set on, else FALLBACK. */
int	 config_line_of(struct config_parse *, cfg_t *sec, const char *key,
	    int fallback);
/* The line of job "name" {. */
int	 config_job_line(cfg_t *js);

/* config_read.c */
/* The file's text with comments blanked, or NULL after config_fail(). */
char	*config_read(struct config_parse *);

/* config_jobs.c */
/* Fill C from the parsed CFG: globals, jobs, plugins, depends_on. */
int	 config_build(struct config_parse *, cfg_t *cfg, struct config *c);
ssize_t	 config_job_index(const struct config *, const char *name);

#endif /* CONFIG_PARSE_H */
