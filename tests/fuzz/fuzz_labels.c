/*
 * fuzz_labels.c — node labels and placement selectors (runtime/labels.c).
 *
 * Where the input comes from: `cor-kernel --label k=v` and the `labels` map
 * of an OMS RegisterRequest (every label is re-checked with
 * cor_label_parse), and the `selector` of a CreateObjectRequest
 * (cor_selector_parse) — both straight off the network at the OMS.
 *
 * The input, cut at its first NUL, is parsed as a label and as a selector.
 * Beyond "no crash", what holds for every accepted input:
 *  - a parsed label or selector, written back out in canonical form, parses
 *    again to exactly the same thing (nothing is lost or invented);
 *  - every key is 1..63 bytes and every value at most 127 bytes of
 *    [A-Za-z0-9._/-];
 *  - a node without labels matches exactly the selectors that have only
 *    `!=` terms;
 *  - a rejected input comes back as EINVAL with a message.
 */
#include "fuzz.h"

#include <ctype.h>
#include <string.h>

#include "labels.h"

static int good_part(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

static const char *no_labels(void *arg, const char *key)
{
    return NULL;
}

static void check_rejected(int rc, const cor_error_t *err)
{
    FUZZ_CHECK(rc == COR_EINVAL);
    FUZZ_CHECK(err->code == COR_EINVAL);
    FUZZ_CHECK(err->msg[0] != '\0');
}

static void fuzz_label(const char *s)
{
    cor_label_t l;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_label_parse(s, &l, &err);
    if (rc != 0) {
        check_rejected(rc, &err);
        return;
    }
    FUZZ_CHECK(good_part(l.key, 1, COR_LABEL_KEY_MAX));
    FUZZ_CHECK(good_part(l.value, 0, COR_LABEL_VALUE_MAX));
    char again[COR_LABEL_KEY_MAX + COR_LABEL_VALUE_MAX + 2];
    snprintf(again, sizeof(again), "%s=%s", l.key, l.value);
    /* The accepted text is exactly key=value: nothing else slips through. */
    FUZZ_CHECK(strcmp(again, s) == 0);
    cor_label_t l2;
    FUZZ_CHECK(cor_label_parse(again, &l2, &err) == 0);
    FUZZ_CHECK(strcmp(l.key, l2.key) == 0 && strcmp(l.value, l2.value) == 0);
}

static void fuzz_selector(const char *s)
{
    cor_selector_t sel;
    cor_error_t err;
    cor_error_clear(&err);
    int rc = cor_selector_parse(s, &sel, &err);
    if (rc != 0) {
        check_rejected(rc, &err);
        return;
    }
    FUZZ_CHECK(sel.n >= 0 && sel.n <= COR_SELECTOR_MAX_TERMS);
    char canon[COR_SELECTOR_MAX_TERMS * (COR_LABEL_KEY_MAX + COR_LABEL_VALUE_MAX + 4) + 1];
    size_t off = 0;
    int needs_label = 0;
    for (int i = 0; i < sel.n; i++) {
        FUZZ_CHECK(good_part(sel.terms[i].l.key, 1, COR_LABEL_KEY_MAX));
        FUZZ_CHECK(good_part(sel.terms[i].l.value, 0, COR_LABEL_VALUE_MAX));
        const char *op = "";
        switch (sel.terms[i].op) {
        case COR_SEL_EQ:
            op = "=";
            needs_label = 1;
            break;
        case COR_SEL_NE:
            op = "!=";
            break;
        case COR_SEL_EXISTS:
            FUZZ_CHECK(sel.terms[i].l.value[0] == '\0');
            needs_label = 1;
            break;
        default:
            FUZZ_CHECK(!"unknown selector op");
        }
        off += (size_t)snprintf(canon + off, sizeof(canon) - off, "%s%s%s%s", i ? "," : "",
                                sel.terms[i].l.key, op,
                                sel.terms[i].op == COR_SEL_EXISTS ? "" : sel.terms[i].l.value);
        FUZZ_CHECK(off < sizeof(canon));
    }
    canon[off] = '\0';
    cor_selector_t sel2;
    FUZZ_CHECK(cor_selector_parse(canon, &sel2, &err) == 0);
    FUZZ_CHECK(sel2.n == sel.n);
    for (int i = 0; i < sel.n; i++) {
        FUZZ_CHECK(sel2.terms[i].op == sel.terms[i].op);
        FUZZ_CHECK(strcmp(sel2.terms[i].l.key, sel.terms[i].l.key) == 0);
        FUZZ_CHECK(strcmp(sel2.terms[i].l.value, sel.terms[i].l.value) == 0);
    }
    FUZZ_CHECK(cor_selector_match(&sel, no_labels, NULL) == !needs_label);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take C strings: cut at the first NUL, as a C caller
     * receiving these bytes would. */
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_label(s);
    fuzz_selector(s);
    free(s);
    return 0;
}
