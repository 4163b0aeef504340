/*
 * table.h — aligned text tables for corctl's human output: a header row
 * and data rows, columns padded to their widest cell (counted in UTF-8
 * characters), two spaces apart, the last column unpadded.
 */
#ifndef COR_CLI_TABLE_H
#define COR_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct corctl_table corctl_table_t;

/* A table of ncols columns with these headers (copied). NULL when out of
 * memory. Freed with corctl_table_free. */
corctl_table_t *corctl_table_new(size_t ncols, const char *const *headers);

/* Appends a row of ncols cells (copied; NULL prints as "-"). Returns 0, or
 * -1 when out of memory. */
int corctl_table_add(corctl_table_t *t, const char *const *cells);

void corctl_table_print(const corctl_table_t *t, FILE *f);
void corctl_table_free(corctl_table_t *t);

#endif
