/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz share: the input as a
 * C string, or as a file for the readers that take a path.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* DATA as a NUL-terminated string (cut at its first NUL); free() it. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char	*s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return (s);
}

/*
 * DATA written, NUL bytes and all, to the file "input" SUFFIX in a private
 * directory, made once per process (so relative paths in the input name
 * nothing there), whose path is returned; it is rewritten for every input
 * and removed at exit.
 */
static char	fuzz_dir[64], fuzz_path[96];

static inline void
fuzz_unlink(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
}

static inline const char *
fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
	FILE	*fp;

	if (fuzz_path[0] == '\0') {
		snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/qsched-fuzz-XXXXXX");
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
		snprintf(fuzz_path, sizeof fuzz_path, "%s/input%s", fuzz_dir,
		    suffix);
		atexit(fuzz_unlink);
	}
	if ((fp = fopen(fuzz_path, "w")) == NULL)
		abort();
	if (fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	return (fuzz_path);
}

#endif /* FUZZ_H */
