/*
 * names.c — every C identifier and literal protoc-gen-cor writes.
 *
 * Two naming schemes meet in generated code:
 *
 *  - protoc-c 1.4.1's, for message types and descriptors, which we must
 *    reproduce exactly (protoc-c/c_helpers.cc: FullNameToC, FullNameToLower,
 *    ToCamel, CamelToLower, OverrideFullName). The full name is split at
 *    dots, empty pieces dropped, and the pieces joined with "__":
 *      type:       each piece ToCamel'd     a.b.Get_reply -> A__B__GetReply
 *      descriptor: each piece CamelToLower'd a.b.GetReply -> a__b__get_reply
 *    ToCamel upper-cases the first letter and every letter after '_' and
 *    drops the '_'s. CamelToLower puts '_' before an upper-case letter that
 *    follows a non-upper-case one and lower-cases it ("HTTPStatus" ->
 *    "httpstatus", "GetHTTP" -> "get_http"). A (pb_c_file).c_package file
 *    option replaces the package part of the full name.
 *
 *  - Corundum's, for its own tables and functions: the package with dots as
 *    '_', lower-cased, then the service and method names in snake_case. Our
 *    snake_case also splits acronyms ("GetHTTPStatus" -> "get_http_status")
 *    and collapses '_' runs, so it is not CamelToLower.
 *
 * Both work on ASCII only (proto identifiers are ASCII), independent of the
 * C locale.
 */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return is_upper(c) ? (char)(c - 'A' + 'a') : c;
}

static char to_upper(char c)
{
    return is_lower(c) ? (char)(c - 'a' + 'A') : c;
}

/* protoc-c's ToCamel of one piece. */
static void put_to_camel(buf_t *b, const char *s, size_t n)
{
    bool next_upper = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            next_upper = true;
        } else if (next_upper) {
            buf_printf(b, "%c", to_upper(c));
            next_upper = false;
        } else {
            buf_printf(b, "%c", c);
        }
    }
}

/* protoc-c's CamelToLower of one piece. */
static void put_camel_to_lower(buf_t *b, const char *s, size_t n)
{
    bool was_upper = true; /* no '_' before a leading capital */
    for (size_t i = 0; i < n; i++) {
        bool up = is_upper(s[i]);
        if (up && !was_upper)
            buf_put(b, "_");
        buf_printf(b, "%c", to_lower(s[i]));
        was_upper = up;
    }
}

/* protoc-c's OverrideFullName. */
static char *override_full_name(const char *full, const char *package, const char *c_package)
{
    if (c_package == NULL)
        return xstrdup(full);
    size_t plen = package ? strlen(package) : 0;
    if (plen > strlen(full))
        plen = strlen(full);
    return xasprintf("%s%s%s", c_package, plen == 0 ? "." : "", full + plen);
}

static char *join_pieces(const char *full, const char *package, const char *c_package,
                         void (*put)(buf_t *, const char *, size_t))
{
    char *name = override_full_name(full, package, c_package);
    buf_t b = {0};
    const char *p = name;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n > 0) {
            if (b.len > 0)
                buf_put(&b, "__");
            put(&b, p, n);
        }
        p += n;
        if (*p == '.')
            p++;
    }
    free(name);
    return buf_take(&b);
}

char *pbc_type_name(const char *full, const char *package, const char *c_package)
{
    return join_pieces(full, package, c_package, put_to_camel);
}

char *pbc_lower_name(const char *full, const char *package, const char *c_package)
{
    return join_pieces(full, package, c_package, put_camel_to_lower);
}

char *snake_case(const char *name)
{
    buf_t b = {0};
    size_t n = strlen(name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '_') {
            if (b.len > 0 && b.data[b.len - 1] != '_')
                buf_put(&b, "_");
            continue;
        }
        if (is_upper(c) && b.len > 0 && b.data[b.len - 1] != '_') {
            char prev = name[i - 1];
            char next = i + 1 < n ? name[i + 1] : '\0';
            if (is_lower(prev) || is_digit(prev) || (is_upper(prev) && is_lower(next)))
                buf_put(&b, "_");
        }
        buf_printf(&b, "%c", to_lower(c));
    }
    while (b.len > 0 && b.data[b.len - 1] == '_')
        b.data[--b.len] = '\0';
    return buf_take(&b);
}

char *package_prefix(const char *package)
{
    char *s = xstrdup(package ? package : "");
    for (char *p = s; *p != '\0'; p++)
        *p = *p == '.' ? '_' : to_lower(*p);
    return s;
}

char *upper_case(const char *s)
{
    char *u = xstrdup(s);
    for (char *p = u; *p != '\0'; p++)
        *p = to_upper(*p);
    return u;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

bool is_c_keyword(const char *s)
{
    static const char *const keywords[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do",
        "double", "else", "enum", "extern", "float", "for", "goto", "if",
        "inline", "int", "long", "register", "restrict", "return", "short",
        "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
        "unsigned", "void", "volatile", "while", "bool", "true", "false", "asm", "typeof",
    };
    return in_list(s, keywords, sizeof(keywords) / sizeof(keywords[0]));
}

bool is_c_or_cxx_keyword(const char *s)
{
    static const char *const keywords[] = {
        /* C11 */
        "auto", "break", "case", "char", "const", "continue", "default", "do",
        "double", "else", "enum", "extern", "float", "for", "goto", "if",
        "inline", "int", "long", "register", "restrict", "return", "short",
        "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
        "unsigned", "void", "volatile", "while",
        /* macros from <stdbool.h> and friends */
        "bool", "true", "false", "asm", "typeof",
        /* C++, as protoc-c avoids them too */
        "and", "and_eq", "bitand", "bitor", "catch", "class", "compl",
        "const_cast", "delete", "dynamic_cast", "explicit", "export", "friend",
        "mutable", "namespace", "new", "not", "not_eq", "operator", "or",
        "or_eq", "private", "protected", "public", "reinterpret_cast",
        "static_cast", "template", "this", "throw", "try", "typeid",
        "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
    };
    return in_list(s, keywords, sizeof(keywords) / sizeof(keywords[0]));
}

char *strip_proto(const char *file_name)
{
    size_t n = strlen(file_name);
    static const char *const suffixes[] = {".protodevel", ".proto"};
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcmp(file_name + n - k, suffixes[i]) == 0)
            return xasprintf("%.*s", (int)(n - k), file_name);
    }
    return xstrdup(file_name);
}

void buf_c_string(buf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            buf_put(b, "\\\"");
            break;
        case '\\':
            buf_put(b, "\\\\");
            break;
        case '\n':
            buf_put(b, "\\n");
            break;
        case '\t':
            buf_put(b, "\\t");
            break;
        case '\r':
            buf_put(b, "\\r");
            break;
        case '?':
            /* "??=" is a trigraph in strict C11: break every "??". */
            buf_put(b, i > 0 && s[i - 1] == '?' ? "\\?" : "?");
            break;
        default:
            if (c >= 0x20 && c < 0x7f)
                buf_printf(b, "%c", (char)c);
            else
                buf_printf(b, "\\%03o", c); /* octal: never eats the next char */
        }
    }
}

void buf_comment_text(buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c == '*' && s[1] == '/') || (c == '/' && s[1] == '*'))
            buf_printf(b, "%c ", (char)c);
        else if (c < 0x20 || c == 0x7f)
            buf_put(b, "?");
        else
            buf_printf(b, "%c", (char)c);
    }
}
