/*
 * test_migrate_parts.c - tests/unit_migrate_parts: the pieces of the
 * schema_migrate plugin that need no database: SHA-256 against known
 * vectors (Prisma's own among them) and the statement splitter.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "migrate.h"

struct sha_case {
	char	 input[80];
	char	 hex[SHA256_HEX_LEN + 1];
};

static struct sha_case sha_cases[] = {
	/* prisma-ledger.md's test vectors. */
	{ "hello",
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" },
	{ "SELECT 1;\n",
	    "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd" },
	/* FIPS 180-4 examples, and the padding edges (55, 56, 64 bytes,
	 * checked with coreutils' sha256sum). */
	{ "",
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ "0123456789012345678901234567890123456789012345678901234",
	    "f34d5a0f80c0cbf84c8c0b90218c22637abd199965249da736a20143c8c9c9d9" },
	{ "01234567890123456789012345678901234567890123456789012345",
	    "83aa034bda83e458a0dc9cbce0d4e354716aa0ff770ed37ac0ed2b292052e4af" },
	{ "0123456789012345678901234567890123456789012345678901234567890123",
	    "9674d9e078535b7cec43284387a6ee39956188e735a85452b0050b55341cda56" },
};

ParameterizedTestParameters(sha256, vectors)
{
	return (cr_make_param_array(struct sha_case, sha_cases,
	    sizeof sha_cases / sizeof sha_cases[0]));
}

ParameterizedTest(struct sha_case *c, sha256, vectors)
{
	char	 out[SHA256_HEX_LEN + 1];

	sha256_hex(c->input, strlen(c->input), out);
	cr_assert_str_eq(out, c->hex, "sha256(\"%s\")", c->input);
}

Test(sha256, a_million_a)
{
	static char	 a[1000000];
	char		 out[SHA256_HEX_LEN + 1];

	memset(a, 'a', sizeof a);
	sha256_hex(a, sizeof a, out);
	cr_assert_str_eq(out, "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
}

struct split_case {
	char	 sql[240];
	char	 stmts[4][120];		/* expected statements, "" ends */
};

static struct split_case split_cases[] = {
	{ "select 1; select 2;", { "select 1", "select 2", "" } },
	{ "  -- only a comment\n", { "" } },
	{ "select ';'; select 2", { "select ';'", "select 2", "" } },
	{ "select 'it''s;'; x", { "select 'it''s;'", "x", "" } },
	{ "select E'a\\';b'; y", { "select E'a\\';b'", "y", "" } },
	{ "select \"a;b\" from t; z", { "select \"a;b\" from t", "z", "" } },
	{ "do $$ begin perform 1; end $$; w",
	    { "do $$ begin perform 1; end $$", "w", "" } },
	{ "do $x$ a $$; b $x$;v", { "do $x$ a $$; b $x$", "v", "" } },
	{ "select $1; u", { "select $1", "u", "" } },
	{ "/* a; /* nested; */ b; */ select 1; -- c;\nselect 2",
	    { "select 1", "select 2", "" } },
	{ "create index concurrently if not exists i on t (a);\n"
	  "-- trailing\n", { "create index concurrently if not exists i on "
	  "t (a)", "" } },
	{ "select 1 -- no semicolon", { "select 1 -- no semicolon", "" } },
};

ParameterizedTestParameters(split, statements)
{
	return (cr_make_param_array(struct split_case, split_cases,
	    sizeof split_cases / sizeof split_cases[0]));
}

ParameterizedTest(struct split_case *c, split, statements)
{
	size_t	 pos = 0, start, len;
	int	 i = 0;

	while (split_next(c->sql, &pos, &start, &len)) {
		cr_assert(c->stmts[i][0] != '\0', "extra statement \"%.*s\" in "
		    "\"%s\"", (int)len, c->sql + start, c->sql);
		cr_assert_eq(len, strlen(c->stmts[i]), "\"%.*s\" != \"%s\"",
		    (int)len, c->sql + start, c->stmts[i]);
		cr_assert(strncmp(c->sql + start, c->stmts[i], len) == 0,
		    "\"%.*s\" != \"%s\"", (int)len, c->sql + start,
		    c->stmts[i]);
		i++;
	}
	cr_assert_str_eq(c->stmts[i], "", "missing statement \"%s\"",
	    c->stmts[i]);
}
