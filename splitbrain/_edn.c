/* A compiled reader for the EDN subset Jepsen writes, straight into plain Python data.

   loads_all(text: str) -> list: every top-level form of ``text``, converted as
   splitbrain.edn.plain converts edn_format's output: keywords and symbols become their names
   (str), vectors and lists become lists, maps become dicts (a vector key becomes a tuple), sets
   become lists sorted by repr, nil/true/false become None/True/False, integers (optional N)
   become int, decimals float, strings str. A tagged literal (#inst "...",
   #jepsen.history.Op{...}) is passed through as its value; #_ discards the next form; ;
   comments and commas are whitespace.

   Anything else (a character literal, a ratio, a BigDecimal (M), an integer with a leading
   zero, a name outside edn_format's plain names, malformed or truncated input) raises
   ValueError: the caller then reads the text with the reference reader (edn_format), which
   gives the result or the error message a person reads. So this reader never has to word an
   error, and never accepts what it does not understand. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    Py_ssize_t n, i;
    int depth;
} Reader;

#define MAX_DEPTH 1000

static PyObject *fail(Reader *r, const char *what) {
    PyErr_Format(PyExc_ValueError, "%s at byte %zd", what, r->i);
    return NULL;
}

static int is_delim(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\f' ||
           c == '[' || c == ']' || c == '(' || c == ')' || c == '{' || c == '}' ||
           c == '"' || c == ';' || c == '\\';
}

static void skip_ws(Reader *r) {
    while (r->i < r->n) {
        char c = r->s[r->i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\f') {
            r->i++;
        } else if (c == ';') {
            while (r->i < r->n && r->s[r->i] != '\n') r->i++;
        } else {
            return;
        }
    }
}

static Py_ssize_t token_end(Reader *r, Py_ssize_t from) {
    Py_ssize_t j = from;
    while (j < r->n && !is_delim(r->s[j])) j++;
    return j;
}

static PyObject *read_form(Reader *r);

static char name_char[256];  /* set by PyInit__edn: the characters plain_name allows */

/* Whether t[0..len) is a symbol's or keyword's name as edn_format reads it: ASCII word
   characters and .*+!-_?$%&=:#<>@, at most one '/' with characters on both sides (or "/"
   alone); a symbol does not start with a digit, nor with -, + or . followed by a digit.
   Anything else (non-ASCII too) is left to the reference reader. */
static int plain_name(const char *t, Py_ssize_t len, int symbol) {
    if (len == 0) return 0;
    if (symbol && len == 1 && t[0] == '/') return 1;
    Py_ssize_t slashes = 0;
    for (Py_ssize_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)t[k];
        if (c == '/') {
            if (++slashes > 1 || k == 0 || k == len - 1) return 0;
        } else if (!name_char[c]) {
            return 0;
        }
    }
    if (symbol) {
        if (t[0] >= '0' && t[0] <= '9') return 0;
        if (strchr("-+.", t[0]) && len > 1 && t[1] >= '0' && t[1] <= '9') return 0;
        if (t[0] == ':' || t[0] == '#') return 0;
    }
    return 1;
}

/* Keywords repeat (:type :invoke :f :read on every op): a small cache hands out one str per
   name, which saves decoding it again and lets dicts reuse its cached hash. Bounded: one str
   per slot, replaced on a collision. */
#define KW_SLOTS 1024
#define KW_MAX_LEN 48
static PyObject *kw_cache[KW_SLOTS];

static PyObject *new_keyword(Reader *r, const char *t, Py_ssize_t len) {
    if (!plain_name(t, len, 0)) return fail(r, "an unusual keyword");
    return PyUnicode_DecodeUTF8(t, len, "strict");
}

/* A keyword's name as a str (checked with plain_name once, when it enters the cache). */
static PyObject *keyword(Reader *r, const char *t, Py_ssize_t len) {
    if (len > KW_MAX_LEN) return new_keyword(r, t, len);
    uint32_t h = 2166136261u;
    for (Py_ssize_t k = 0; k < len; k++) h = (h ^ (unsigned char)t[k]) * 16777619u;
    PyObject **slot = &kw_cache[h & (KW_SLOTS - 1)];
    if (*slot) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(*slot, &n);
        if (u && n == len && !memcmp(u, t, (size_t)len)) {
            Py_INCREF(*slot);
            return *slot;
        }
    }
    PyObject *s = new_keyword(r, t, len);
    if (!s) return NULL;
    Py_XSETREF(*slot, s);
    Py_INCREF(s);
    return s;
}

/* Forms up to ``close``; the caller has consumed the opening bracket. */
static PyObject *read_seq(Reader *r, char close) {
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    for (;;) {
        skip_ws(r);
        if (r->i >= r->n) { Py_DECREF(list); return fail(r, "unexpected end of input"); }
        char c = r->s[r->i];
        if (c == close) { r->i++; return list; }
        if (c == ']' || c == ')' || c == '}') {
            Py_DECREF(list);
            return fail(r, "unmatched closer");
        }
        PyObject *x = read_form(r);
        if (!x) { Py_DECREF(list); return NULL; }
        if (x == Py_Ellipsis) { Py_DECREF(x); continue; }  /* a #_ discarded form */
        int rc = PyList_Append(list, x);
        Py_DECREF(x);
        if (rc < 0) { Py_DECREF(list); return NULL; }
    }
}

static PyObject *read_map(Reader *r) {
    PyObject *items = read_seq(r, '}');
    if (!items) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (n % 2) { Py_DECREF(items); return fail(r, "a map with an odd number of forms"); }
    PyObject *d = PyDict_New();
    for (Py_ssize_t k = 0; d && k < n; k += 2) {
        PyObject *key = PyList_GET_ITEM(items, k);
        PyObject *frozen = NULL;
        if (PyList_Check(key)) {
            frozen = PyList_AsTuple(key);
            if (!frozen) { Py_CLEAR(d); break; }
            key = frozen;
        }
        if (PyDict_SetItem(d, key, PyList_GET_ITEM(items, k + 1)) < 0) {
            Py_CLEAR(d);  /* an unhashable key (a map): the reference reader says what */
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                fail(r, "an unhashable map key");
            }
        }
        Py_XDECREF(frozen);
    }
    Py_DECREF(items);
    return d;
}

static PyObject *read_set(Reader *r) {
    PyObject *items = read_seq(r, '}');
    if (!items) return NULL;
    PyObject *builtins = PyEval_GetBuiltins();
    PyObject *repr = builtins ? PyDict_GetItemString(builtins, "repr") : NULL;
    PyObject *sort = PyObject_GetAttrString(items, "sort");
    PyObject *args = PyTuple_New(0), *kw = Py_BuildValue("{sO}", "key", repr);
    PyObject *done = (repr && sort && args && kw) ? PyObject_Call(sort, args, kw) : NULL;
    Py_XDECREF(sort); Py_XDECREF(args); Py_XDECREF(kw);
    if (!done) { Py_DECREF(items); return NULL; }
    Py_DECREF(done);
    return items;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static PyObject *read_string(Reader *r) {
    Py_ssize_t start = ++r->i, j = start;
    int escaped = 0;
    while (j < r->n && r->s[j] != '"') {
        if (r->s[j] == '\\') { escaped = 1; j++; }
        j++;
    }
    if (j >= r->n) return fail(r, "unterminated string");
    r->i = j + 1;
    if (!escaped) return PyUnicode_DecodeUTF8(r->s + start, j - start, "strict");
    char *buf = malloc((size_t)(j - start) + 1);
    if (!buf) return PyErr_NoMemory();
    Py_ssize_t o = 0;
    for (Py_ssize_t k = start; k < j; k++) {
        char c = r->s[k];
        if (c != '\\') { buf[o++] = c; continue; }
        c = r->s[++k];
        switch (c) {
        case 'n': buf[o++] = '\n'; break;
        case 't': buf[o++] = '\t'; break;
        case 'r': buf[o++] = '\r'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case '"': case '\\': buf[o++] = c; break;
        case 'u': {
            int h = 0;
            for (int q = 1; q <= 4; q++) {
                int v = k + q < j ? hexval(r->s[k + q]) : -1;
                if (v < 0) { free(buf); return fail(r, "a bad \\u escape"); }
                h = h * 16 + v;
            }
            if (h >= 0xD800 && h <= 0xDFFF) { free(buf); return fail(r, "a surrogate escape"); }
            k += 4;  /* UTF-8 encode the code point */
            if (h < 0x80) {
                buf[o++] = (char)h;
            } else if (h < 0x800) {
                buf[o++] = (char)(0xC0 | (h >> 6));
                buf[o++] = (char)(0x80 | (h & 0x3F));
            } else {
                buf[o++] = (char)(0xE0 | (h >> 12));
                buf[o++] = (char)(0x80 | ((h >> 6) & 0x3F));
                buf[o++] = (char)(0x80 | (h & 0x3F));
            }
            break;
        }
        default: free(buf); return fail(r, "an unknown string escape");
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8(buf, o, "strict");
    free(buf);
    return s;
}

/* An integer (optional N) or a decimal (optional M); NULL with ValueError when the token is
   not one. */
static PyObject *read_number(Reader *r, Py_ssize_t end) {
    const char *t = r->s + r->i;
    Py_ssize_t len = end - r->i, k = 0;
    if (t[len - 1] == 'M') return fail(r, "a BigDecimal");  /* edn_format: a Decimal */
    if (t[len - 1] == 'N') len--;
    if (k < len && (t[k] == '+' || t[k] == '-')) k++;
    Py_ssize_t digits = k;
    while (k < len && t[k] >= '0' && t[k] <= '9') k++;
    if (k == digits) return fail(r, "a bad number");
    int leading_zero = t[digits] == '0' && k - digits > 1;
    int is_float = 0;
    if (k < len && t[k] == '.') {
        is_float = 1; k++;
        Py_ssize_t frac = k;
        while (k < len && t[k] >= '0' && t[k] <= '9') k++;
        if (k == frac) return fail(r, "a decimal point without digits");
    }
    if (k < len && (t[k] == 'e' || t[k] == 'E')) {
        is_float = 1; k++;
        if (k < len && (t[k] == '+' || t[k] == '-')) k++;
        Py_ssize_t e = k;
        while (k < len && t[k] >= '0' && t[k] <= '9') k++;
        if (k == e) return fail(r, "a bad exponent");
    }
    if (k != len || (t[end - r->i - 1] == 'N' && is_float) || (leading_zero && !is_float))
        return fail(r, "a bad number");
    char small[64], *buf = len < 64 ? small : malloc((size_t)len + 1);
    if (!buf) return PyErr_NoMemory();
    memcpy(buf, t, (size_t)len);
    buf[len] = 0;
    PyObject *v;
    if (is_float) {
        v = PyFloat_FromDouble(PyOS_string_to_double(buf, NULL, NULL));
        if (PyErr_Occurred()) Py_CLEAR(v);
    } else if (len < 18) {
        v = PyLong_FromLongLong(strtoll(buf, NULL, 10));
    } else {
        v = PyLong_FromString(buf, NULL, 10);
    }
    if (buf != small) free(buf);
    r->i = end;
    return v;
}

static PyObject *read_form(Reader *r) {
    if (++r->depth > MAX_DEPTH) return fail(r, "nesting too deep");
    PyObject *v = NULL;
    skip_ws(r);
    if (r->i >= r->n) { v = fail(r, "unexpected end of input"); goto out; }
    char c = r->s[r->i];
    switch (c) {
    case '[': r->i++; v = read_seq(r, ']'); goto out;
    case '(': r->i++; v = read_seq(r, ')'); goto out;
    case '{': r->i++; v = read_map(r); goto out;
    case '"': v = read_string(r); goto out;
    case ']': case ')': case '}': v = fail(r, "unmatched closer"); goto out;
    case '\\': v = fail(r, "a character literal"); goto out;
    case '#': {
        char d = r->i + 1 < r->n ? r->s[r->i + 1] : 0;
        if (d == '{') { r->i += 2; v = read_set(r); goto out; }
        if (d == '_') {
            r->i += 2;
            PyObject *gone = read_form(r);
            if (!gone) goto out;
            Py_DECREF(gone);
            Py_INCREF(Py_Ellipsis);  /* the caller skips it */
            v = Py_Ellipsis;
            goto out;
        }
        if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z')) {
            r->i = token_end(r, r->i + 1);  /* the tag; its value passes through */
            v = read_form(r);
            if (v == Py_Ellipsis) { Py_DECREF(v); v = fail(r, "a tag on a discarded form"); }
            goto out;
        }
        v = fail(r, "an unknown dispatch");
        goto out;
    }
    default: break;
    }
    Py_ssize_t end = token_end(r, r->i);
    const char *t = r->s + r->i;
    Py_ssize_t len = end - r->i;
    if (c == ':') {
        v = keyword(r, t + 1, len - 1);
        r->i = end;
        goto out;
    }
    if ((c >= '0' && c <= '9') ||
        ((c == '-' || c == '+') && len > 1 && t[1] >= '0' && t[1] <= '9')) {
        v = read_number(r, end);
        goto out;
    }
    if (len == 3 && !memcmp(t, "nil", 3)) { v = Py_None; Py_INCREF(v); }
    else if (len == 4 && !memcmp(t, "true", 4)) { v = Py_True; Py_INCREF(v); }
    else if (len == 5 && !memcmp(t, "false", 5)) { v = Py_False; Py_INCREF(v); }
    else if (!plain_name(t, len, 1)) { v = fail(r, "an unusual symbol"); goto out; }
    else v = PyUnicode_DecodeUTF8(t, len, "strict");  /* a symbol: its name */
    r->i = end;
out:
    r->depth--;
    return v;
}

static PyObject *loads_all(PyObject *self, PyObject *arg) {
    Reader r = {0};
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "loads_all takes a str");
        return NULL;
    }
    r.s = PyUnicode_AsUTF8AndSize(arg, &r.n);
    if (!r.s) return NULL;
    PyObject *forms = PyList_New(0);
    if (!forms) return NULL;
    for (;;) {
        skip_ws(&r);
        if (r.i >= r.n) return forms;
        PyObject *x = read_form(&r);
        if (!x) { Py_DECREF(forms); return NULL; }
        int rc = x == Py_Ellipsis ? 0 : PyList_Append(forms, x);
        Py_DECREF(x);
        if (rc < 0) { Py_DECREF(forms); return NULL; }
    }
}

static PyMethodDef methods[] = {
    {"loads_all", loads_all, METH_O, "Every top-level EDN form of a str, as plain Python data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_edn",
    "A compiled reader for the EDN subset Jepsen writes (see _edn.c).", -1, methods};

PyMODINIT_FUNC PyInit__edn(void) {
    for (int c = 0; c < 256; c++)
        name_char[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       (c && strchr("_.*+!-?$%&=:#<>@", c));
    return PyModule_Create(&module);
}
