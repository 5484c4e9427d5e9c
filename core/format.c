/*
 * format.c - query results for people (an aligned table), for programs
 * (JSON that jq parses: numbers, booleans, jsonb and NULL keep their
 * types) and for spreadsheets (RFC 4180 CSV).
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type oids from pg_type.h, which client programs do not get. */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_JSON	114
#define OID_FLOAT4	700
#define OID_FLOAT8	701
#define OID_NUMERIC	1700
#define OID_JSONB	3802

int
format_parse(const char *name, enum format *f)
{
	if (strcmp(name, "table") == 0)
		*f = FORMAT_TABLE;
	else if (strcmp(name, "json") == 0)
		*f = FORMAT_JSON;
	else if (strcmp(name, "csv") == 0)
		*f = FORMAT_CSV;
	else
		return (-1);
	return (0);
}

/* Display width in characters, counting UTF-8 sequences once. */
static size_t
format_width(const char *s)
{
	size_t	 w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return (w);
}

static void
format_table(const PGresult *res, FILE *out)
{
	int	 nf = PQnfields(res), nt = PQntuples(res);
	size_t	*w = xcalloc((size_t)nf, sizeof *w);

	for (int c = 0; c < nf; c++) {
		w[c] = format_width(PQfname(res, c));
		for (int t = 0; t < nt; t++) {
			size_t	 cw = format_width(PQgetvalue(res, t, c));

			if (cw > w[c])
				w[c] = cw;
		}
	}
	for (int c = 0; c < nf; c++) {
		const char *name = PQfname(res, c);

		fprintf(out, "%s%s", c ? "  " : "", name);
		if (c < nf - 1)
			fprintf(out, "%*s", (int)(w[c] - format_width(name)),
			    "");
	}
	fputc('\n', out);
	for (int c = 0; c < nf; c++) {
		fputs(c ? "  " : "", out);
		for (size_t i = 0; i < w[c]; i++)
			fputc('-', out);
	}
	fputc('\n', out);
	for (int t = 0; t < nt; t++) {
		for (int c = 0; c < nf; c++) {
			const char *v = PQgetvalue(res, t, c);
			Oid	 type = PQftype(res, c);
			size_t	 pad = w[c] - format_width(v);
			bool	 num = (type == OID_INT2 || type == OID_INT4 ||
			    type == OID_INT8 || type == OID_NUMERIC ||
			    type == OID_FLOAT4 || type == OID_FLOAT8);

			fputs(c ? "  " : "", out);
			if (num)	/* numbers align right */
				fprintf(out, "%*s%s", (int)pad, "", v);
			else if (c == nf - 1)
				fputs(v, out);
			else
				fprintf(out, "%s%*s", v, (int)pad, "");
		}
		fputc('\n', out);
	}
	free(w);
}

static void
format_json(const PGresult *res, FILE *out)
{
	struct buf	 b = { 0 };
	int		 nf = PQnfields(res), nt = PQntuples(res);

	buf_puts(&b, "[");
	for (int t = 0; t < nt; t++) {
		buf_puts(&b, t ? ",\n  {" : "\n  {");
		for (int c = 0; c < nf; c++) {
			const char *v = PQgetvalue(res, t, c);
			Oid	 type = PQftype(res, c);

			if (c)
				buf_puts(&b, ", ");
			buf_json_string(&b, PQfname(res, c));
			buf_puts(&b, ": ");
			if (PQgetisnull(res, t, c))
				buf_puts(&b, "null");
			else if (type == OID_BOOL)
				buf_puts(&b, *v == 't' ? "true" : "false");
			else if ((type == OID_INT2 || type == OID_INT4 ||
			    type == OID_INT8 || type == OID_NUMERIC ||
			    type == OID_FLOAT4 || type == OID_FLOAT8) &&
			    strcmp(v, "NaN") != 0 && strstr(v, "Infinity") ==
			    NULL)
				buf_puts(&b, v);
			else if (type == OID_JSON || type == OID_JSONB)
				buf_puts(&b, v);
			else
				buf_json_string(&b, v);
		}
		buf_puts(&b, "}");
	}
	buf_puts(&b, nt ? "\n]\n" : "]\n");
	fputs(b.data, out);
	buf_free(&b);
}

/* RFC 4180: CRLF line ends; quote fields holding , " CR or LF. */
static void
format_csv_field(const char *v, FILE *out)
{
	if (strpbrk(v, ",\"\r\n") == NULL) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

static void
format_csv(const PGresult *res, FILE *out)
{
	int	 nf = PQnfields(res), nt = PQntuples(res);

	for (int c = 0; c < nf; c++) {
		if (c)
			fputc(',', out);
		format_csv_field(PQfname(res, c), out);
	}
	fputs("\r\n", out);
	for (int t = 0; t < nt; t++) {
		for (int c = 0; c < nf; c++) {
			if (c)
				fputc(',', out);
			format_csv_field(PQgetvalue(res, t, c), out);
		}
		fputs("\r\n", out);
	}
}

void
format_result(const PGresult *res, enum format f, FILE *out)
{
	switch (f) {
	case FORMAT_TABLE:
		format_table(res, out);
		break;
	case FORMAT_JSON:
		format_json(res, out);
		break;
	case FORMAT_CSV:
		format_csv(res, out);
		break;
	}
}
