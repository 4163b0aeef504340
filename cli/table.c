/*
 * table.c — aligned text tables; see table.h. Cells are kept as copies in
 * one flat array, row-major, header row first.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

struct corctl_table {
    size_t ncols, nrows, cap; /* nrows counts the header */
    char **cells;
};

static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

corctl_table_t *corctl_table_new(size_t ncols, const char *const *headers)
{
    corctl_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (corctl_table_add(t, headers) != 0) {
        corctl_table_free(t);
        return NULL;
    }
    return t;
}

int corctl_table_add(corctl_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
        if (c == NULL)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-");
        if (row[i] == NULL) {
            while (i > 0)
                free(row[--i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

void corctl_table_print(const corctl_table_t *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (w == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t x = width(t->cells[r * t->ncols + c]);
            if (x > w[c])
                w[c] = x;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            fputs(s, f);
            if (c + 1 < t->ncols)
                fprintf(f, "%*s", (int)(w[c] - width(s) + 2), "");
        }
        fputc('\n', f);
    }
    free(w);
}

void corctl_table_free(corctl_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
