/* Optional C speed-ups for consentgate.html: the parts of the rewriter where CPython's `re`
 * and the bytecode loop spent most of the time.
 *
 * Each one stands for a piece of Python code that stays the reference and the fallback (no
 * compiler at install, or CONSENTGATE_PURE_PYTHON=1: consentgate/html/accel.py), and gives
 * the same answers for the same bytes (tests/html/test_speedups.py compares them on the 120
 * corpus pages and on hypothesis markup, and rewrites pages in both modes byte for byte):
 *
 * - TagSearch.search(data, pos) is `pattern.search(data, pos)` for the tokenizer's fast-path
 *   pattern (consentgate/html/fastscan.py). It jumps from `<` to `<` with memchr, drops those
 *   the pattern's own three-byte prefilter drops, drops images and links that the "quiet"
 *   lookahead (consentgate/html/rewriter.py, _quiet_lookahead) would refuse, and calls the
 *   compiled pattern's `match` at every other `<`: the result is the pattern's own Match.
 *
 * - TagSearch.scan(data, pos, lo, n, final) is fastscan.scan_py: the next candidate the
 *   tokenizer must look at, with comments read past and its place in the data state proved
 *   (settle). Candidates without a lookahead of their own (scripts, styles, frames, end
 *   tags...) are read here, with the attribute grammar of grammar.ATTRS and raw text up to
 *   its end tag; names no alternative of the pattern can match are skipped; the rest (quiet
 *   images and links that may be trackers, <a ping>, body, meta) are the pattern's.
 *
 * - settle(buf, lo, p) is fastscan.settle_py.
 *
 * - LiteralSet.find(data, start, end) lists every occurrence (overlapping ones too) of a set
 *   of literal byte strings, by start position: the inline-script signatures
 *   (consentgate/html/signatures.py). A bitmap of the byte pairs signatures start with
 *   rejects almost every position in one test.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------------------------- */
/* byte classes                                                                          */

static unsigned char DELIM[256];     /* \t \n \f \r space / > : what may follow a tag name  */
static unsigned char HOST_BYTE[256]; /* not one of / \ ? # " ' \t \n \f \r space > : @      */
static unsigned char HANDLER_BEFORE[256]; /* \t \n \f \r space " ' / may precede `on…` */
static unsigned char QUIET_BREAK[256]; /* \t \n \r @ : a host broken by one of these        */
static unsigned char SPACE[256];     /* \t \n \f \r space                                   */
static unsigned char LOWER[256];     /* ASCII letters to lower case, as bytes.lower() does     */
static unsigned char QUIET_STOP[256]; /* o O and the walk's triggers \\ & : = - / : harmless() looks */

static void
init_classes(void)
{
    const char *delim = "\t\n\f\r />";
    const char *not_host = "/\\?#\"'\t\n\f\r >:@";
    const char *before = "\t\n\f\r \"'/";
    const char *broken = "\t\n\r@";
    const char *space = "\t\n\f\r ";
    for (int i = 0; i < 256; i++) {
        HOST_BYTE[i] = 1;
        LOWER[i] = (unsigned char)(i >= 'A' && i <= 'Z' ? i + 32 : i);
    }
    for (const char *c = delim; *c; c++) DELIM[(unsigned char)*c] = 1;
    for (const char *c = not_host; *c; c++) HOST_BYTE[(unsigned char)*c] = 0;
    for (const char *c = before; *c; c++) HANDLER_BEFORE[(unsigned char)*c] = 1;
    for (const char *c = broken; *c; c++) QUIET_BREAK[(unsigned char)*c] = 1;
    for (const char *c = space; *c; c++) SPACE[(unsigned char)*c] = 1;
    for (const char *c = "oO\\&:=-/"; *c; c++) QUIET_STOP[(unsigned char)*c] = 1;
}

static int
starts(const unsigned char *d, Py_ssize_t n, Py_ssize_t i, const char *lit)
{
    /* lit in lower case; d in any case (the pattern reads lower-cased bytes) */
    Py_ssize_t len = (Py_ssize_t)strlen(lit);
    if (i < 0 || i + len > n) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        if (LOWER[d[i + k]] != (unsigned char)lit[k]) {
            return 0;
        }
    }
    return 1;
}

static Py_ssize_t tag_close(const unsigned char *d, Py_ssize_t n, Py_ssize_t i);

/* d[i:i+len] in lower case equals raw (lower case) */
static int
equal_ci(const unsigned char *d, Py_ssize_t i, const unsigned char *raw, Py_ssize_t len)
{
    for (Py_ssize_t k = 0; k < len; k++) {
        if (LOWER[d[i + k]] != raw[k]) {
            return 0;
        }
    }
    return 1;
}

/* d[s:e] lower-cased, as a new bytes object */
static PyObject *
lowered(const unsigned char *d, Py_ssize_t s, Py_ssize_t e)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, e - s);
    if (out != NULL) {
        unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
        for (Py_ssize_t k = s; k < e; k++) {
            w[k - s] = LOWER[d[k]];
        }
    }
    return out;
}

/* ------------------------------------------------------------------------------------- */
/* TagSearch                                                                             */

#define MAX_KEY 32
#define MAX_KEYS 128

typedef struct {
    PyObject_HEAD
    PyObject *match;          /* the compiled pattern's bound `match` */
    unsigned char classes[3][256];
    Py_ssize_t width;         /* prefilter positions (1-3) */
    int a_alternative;        /* `<a` + delimiter is an alternative outside the prefilter */
    PyObject *quiet;          /* tuple of bytes: names the quiet lookahead guards, or () */
    PyObject *domains;        /* frozenset of bytes: hosts the lookahead knows, or None */
    Py_ssize_t quiet_long;    /* a tag this long (to its first `>`) always passes */
    unsigned char quiet_first[256];
    PyObject *native;         /* dict: key -> (group, kind, end name) the C reads itself, or None */
    PyObject *delegated;      /* frozenset: the other keys (lookaheads of their own): the pattern's */
    unsigned char raw_groups[1024]; /* 1 where a group is a raw-text leaf (its end tag: group + 2) */
    PyObject *quiet_leaves;    /* dict: quiet name -> (group, 0, name) of its leaf, or None */
    /* The native and delegated keys, found by name_slot() without a bytes object or a hash:
     * heads[slot] is the first key with that slot (-1: none), keys[k].next the next one. */
    short heads[4096];
    struct {
        unsigned char key[MAX_KEY];
        short len, next;
        PyObject *entry; /* borrowed from the native dict; NULL: a delegated key */
    } keys[MAX_KEYS];
    int key_count;
} TagSearch;

/* A 12-bit digest of a tag name d[s:e] (any case): its first two bytes, last byte and length.
 * Keys of the native dict and the delegated set set their bit in TagSearch.names, so a name
 * whose bit is clear is no key, decided without making a bytes object of it (most names on a
 * page: p, div, span, li, their end tags). */
static unsigned int
name_slot(const unsigned char *d, Py_ssize_t s, Py_ssize_t e)
{
    Py_ssize_t len = e - s;
    unsigned int first = LOWER[d[s]], second = len > 1 ? LOWER[d[s + 1]] : 0, last = LOWER[d[e - 1]];
    return (first * 131u + second * 31u + last * 7u + (unsigned int)len) & 4095u;
}

static int
add_key(TagSearch *self, PyObject *key, PyObject *entry)
{
    if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) == 0 || PyBytes_GET_SIZE(key) > MAX_KEY) {
        PyErr_SetString(PyExc_TypeError, "native and delegated keys: bytes of 1 to 32 bytes");
        return -1;
    }
    const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(key);
    Py_ssize_t len = PyBytes_GET_SIZE(key);
    unsigned int slot = name_slot(raw, 0, len);
    for (int k = self->heads[slot]; k >= 0; k = self->keys[k].next) {
        if (self->keys[k].len == len && memcmp(self->keys[k].key, raw, (size_t)len) == 0) {
            return 0; /* a native key stays native */
        }
    }
    if (self->key_count >= MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "native and delegated keys: at most 128");
        return -1;
    }
    int k = self->key_count++;
    for (Py_ssize_t b = 0; b < len; b++) {
        self->keys[k].key[b] = LOWER[raw[b]];
    }
    self->keys[k].len = (short)len;
    self->keys[k].entry = entry;
    self->keys[k].next = self->heads[slot];
    self->heads[slot] = (short)k;
    return 0;
}

static void
clear_keys(TagSearch *self)
{
    self->key_count = 0;
    for (int k = 0; k < 4096; k++) {
        self->heads[k] = -1;
    }
}

static int
add_keys(TagSearch *self, PyObject *native, PyObject *delegated)
{
    clear_keys(self);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(native, &pos, &key, &value)) {
        if (add_key(self, key, value) < 0) {
            return -1;
        }
    }
    PyObject *iter = PyObject_GetIter(delegated);
    if (iter == NULL) {
        return -1;
    }
    while ((key = PyIter_Next(iter)) != NULL) {
        int failed = add_key(self, key, NULL) < 0;
        Py_DECREF(key);
        if (failed) {
            Py_DECREF(iter);
            return -1;
        }
    }
    Py_DECREF(iter);
    return PyErr_Occurred() ? -1 : 0;
}

static void
TagSearch_dealloc(TagSearch *self)
{
    Py_XDECREF(self->match);
    Py_XDECREF(self->quiet);
    Py_XDECREF(self->domains);
    Py_XDECREF(self->native);
    Py_XDECREF(self->delegated);
    Py_XDECREF(self->quiet_leaves);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
TagSearch_init(TagSearch *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"match",      "classes", "a_alternative", "quiet",        "domains",
                             "quiet_long", "native",  "raw_groups",    "delegated", "quiet_leaves", NULL};
    PyObject *match, *quiet, *domains, *native = Py_None, *delegated = Py_None, *quiet_leaves = Py_None;
    Py_buffer classes, raw_groups = {0};
    int a_alternative;
    Py_ssize_t quiet_long;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oy*pO!On|Oy*OO", kwlist, &match, &classes, &a_alternative,
                                     &PyTuple_Type, &quiet, &domains, &quiet_long, &native, &raw_groups,
                                     &delegated, &quiet_leaves)) {
        return -1;
    }
    if ((native == Py_None) != (delegated == Py_None) || (delegated != Py_None && !PyFrozenSet_Check(delegated)) ||
        (quiet_leaves != Py_None && !PyDict_Check(quiet_leaves))) {
        PyBuffer_Release(&classes);
        if (raw_groups.buf != NULL) {
            PyBuffer_Release(&raw_groups);
        }
        PyErr_SetString(PyExc_TypeError,
                        "native and delegated: a dict and a frozenset, or neither; quiet_leaves: a dict or None");
        return -1;
    }
    Py_INCREF(quiet_leaves);
    Py_XSETREF(self->quiet_leaves, quiet_leaves);
    Py_INCREF(delegated);
    Py_XSETREF(self->delegated, delegated);
    memset(self->raw_groups, 0, sizeof(self->raw_groups));
    if (raw_groups.buf != NULL) {
        Py_ssize_t len = raw_groups.len < 1024 ? raw_groups.len : 1024;
        memcpy(self->raw_groups, raw_groups.buf, (size_t)len);
        int too_many = raw_groups.len > 1024;
        PyBuffer_Release(&raw_groups);
        if (too_many) {
            PyBuffer_Release(&classes);
            PyErr_SetString(PyExc_ValueError, "raw_groups: at most 1024 groups");
            return -1;
        }
    }
    if (native != Py_None && !PyDict_Check(native)) {
        PyBuffer_Release(&classes);
        PyErr_SetString(PyExc_TypeError, "native: a dict or None");
        return -1;
    }
    /* the keys borrow the native dict's values: the dict is kept first */
    Py_INCREF(native);
    Py_XSETREF(self->native, native);
    clear_keys(self);
    if (native != Py_None && add_keys(self, native, delegated) < 0) {
        PyBuffer_Release(&classes);
        return -1;
    }
    if (classes.len < 256 || classes.len > 3 * 256 || classes.len % 256 != 0) {
        PyBuffer_Release(&classes);
        PyErr_SetString(PyExc_ValueError, "classes: 256, 512 or 768 bytes");
        return -1;
    }
    self->width = classes.len / 256;
    memset(self->classes, 0, sizeof(self->classes));
    for (Py_ssize_t k = 0; k < self->width; k++) {
        memcpy(self->classes[k], (const unsigned char *)classes.buf + 256 * k, 256);
    }
    PyBuffer_Release(&classes);
    if (!PyCallable_Check(match)) {
        PyErr_SetString(PyExc_TypeError, "match must be callable");
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(quiet);
    memset(self->quiet_first, 0, sizeof(self->quiet_first));
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *name = PyTuple_GET_ITEM(quiet, k);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) == 0) {
            PyErr_SetString(PyExc_TypeError, "quiet: non-empty bytes");
            return -1;
        }
        unsigned char first = (unsigned char)PyBytes_AS_STRING(name)[0];
        self->quiet_first[first] = 1;
        if (first >= 'a' && first <= 'z') {
            self->quiet_first[first - 32] = 1;
        }
    }
    if (count && !PyFrozenSet_Check(domains)) {
        PyErr_SetString(PyExc_TypeError, "domains: a frozenset of bytes with quiet names");
        return -1;
    }
    Py_INCREF(match);
    Py_XSETREF(self->match, match);
    Py_INCREF(quiet);
    Py_XSETREF(self->quiet, quiet);
    Py_INCREF(domains);
    Py_XSETREF(self->domains, domains);
    self->a_alternative = a_alternative;
    self->quiet_long = quiet_long;
    return 0;
}

/* Does d[t:k] name a host the lookahead knows? -1 on error. */
static int
known(TagSearch *self, const unsigned char *d, Py_ssize_t t, Py_ssize_t k)
{
    PyObject *host = lowered(d, t, k);
    if (host == NULL) {
        return -1;
    }
    int found = PySet_Contains(self->domains, host);
    Py_DECREF(host);
    return found;
}

/* The quiet lookahead (rewriter.py, _quiet_lookahead) at s, the tag name's first byte:
 * 1 when it certainly fails (the tag is harmless), CERTAIN when it certainly passes (its walk
 * stops at the `//` of a host the pattern knows: the most common way a tracker's image or link
 * passes), 0 when it may pass, -1 on error. Conservative: whatever this cannot settle counts
 * as "may pass", and the pattern decides. */
enum { CERTAIN = 2 };

static int
harmless(TagSearch *self, const unsigned char *d, Py_ssize_t n, Py_ssize_t s)
{
    const unsigned char *gt = memchr(d + s, '>', (size_t)(n - s));
    if (gt == NULL) {
        return 0; /* the tag goes on past these bytes */
    }
    Py_ssize_t g = gt - d;
    if (g - s >= self->quiet_long) {
        return 0; /* [^>]{long} */
    }
    /* One walk. _MAY_HANDLE (`on` and a letter where an attribute name may start) anywhere
     * makes the lookahead pass; so does the plain walk stopping at a trigger, or not when the
     * trigger is harmless after all. A handler after a trigger that passes changes nothing:
     * the lookahead passes either way. */
    int handler = 0;
    for (Py_ssize_t i = s; i < g; i++) {
        unsigned char c = d[i];
        if (!QUIET_STOP[c]) {
            continue;
        }
        switch (c) {
        case 'o':
        case 'O':
            if (i + 2 < g && LOWER[d[i + 1]] == 'n' && LOWER[d[i + 2]] >= 'a' && LOWER[d[i + 2]] <= 'z' && i >= 1 &&
                HANDLER_BEFORE[d[i - 1]]) {
                handler = 1;
            }
            break;
        case '\\':
            return 0;
        case '&':
            if (!starts(d, n, i + 1, "amp;")) {
                return 0;
            }
            break;
        case ':':
            if ((starts(d, n, i - 4, "http") || starts(d, n, i - 5, "https")) && !starts(d, n, i + 1, "//")) {
                return 0; /* a scheme without its slashes */
            }
            break;
        case '=': {
            Py_ssize_t j = i + 1;
            while (j < n && SPACE[d[j]]) {
                j++;
            }
            if (j < n && (d[j] == '"' || d[j] == '\'')) {
                unsigned char quote = d[j];
                Py_ssize_t k = j + 1;
                while (k < n && d[k] != quote && d[k] != '>') {
                    k++;
                }
                if (k < n && d[k] == '>') {
                    return 0; /* a quoted value holding `>`: the tag goes on */
                }
            }
            break;
        }
        case '-':
            if ((starts(d, n, i - 4, "data") &&
                 (starts(d, n, i + 1, "category") || starts(d, n, i + 1, "cookieconsent") ||
                  starts(d, n, i + 1, "service") || starts(d, n, i + 1, "name"))) ||
                (starts(d, n, i - 7, "optanon") && starts(d, n, i + 1, "category"))) {
                return 0; /* consent markup */
            }
            break;
        case '/':
            if (i + 1 < n && d[i + 1] == '/') {
                Py_ssize_t h = i + 2, j = i + 2;
                while (j < n && HOST_BYTE[d[j]]) {
                    j++;
                }
                if (j >= n || QUIET_BREAK[d[j]]) {
                    return 0; /* cut short here, or a host broken by a newline or a user name */
                }
                Py_ssize_t k = j;
                while (k > h && d[k - 1] == '.') {
                    k--;
                }
                for (Py_ssize_t t = h; t < k; t++) {
                    if (t == h || d[t - 1] == '.') {
                        int found = known(self, d, t, k);
                        if (found) {
                            /* the walk stops at this `/`, which `[^>]` then takes */
                            return found < 0 ? -1 : CERTAIN;
                        }
                    }
                }
            }
            break;
        default:
            break;
        }
    }
    if (handler) {
        return 0;
    }
    return 1;
}

/* Is there a quiet name followed by a delimiter at s? 1 yes, 0 no, -1 cannot tell yet. */
static int
quiet_name_at(TagSearch *self, const unsigned char *d, Py_ssize_t n, Py_ssize_t s, PyObject **name_found)
{
    Py_ssize_t count = PyTuple_GET_SIZE(self->quiet);
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *name = PyTuple_GET_ITEM(self->quiet, k);
        Py_ssize_t len = PyBytes_GET_SIZE(name);
        const char *raw = PyBytes_AS_STRING(name);
        if (s + len > n) {
            if (equal_ci(d, s, (const unsigned char *)raw, n - s)) {
                return -1;
            }
            continue;
        }
        if (equal_ci(d, s, (const unsigned char *)raw, len)) {
            if (s + len == n) {
                return -1;
            }
            if (DELIM[d[s + len]]) {
                *name_found = name;
                return 1;
            }
        }
    }
    return 0;
}

/* The next position at or after pos where the pattern may match, and the pattern's Match
 * there (a new reference), or Py_None. With comments_native, a comment's `<!--` is returned at
 * once with *comment set and no Match (Py_None): the caller reads the comment itself. NULL on
 * error. */
/* What the name at s (up to a delimiter, lower-cased) is to the pattern: NAME_NATIVE (*entry:
 * its (group, kind, end name), borrowed; *end: where the name ends), NAME_DELEGATED (a key with
 * a lookahead of its own: the pattern's), NAME_NONE (no alternative of the pattern can match
 * there: every key is followed by a delimiter), or -1 on error. */
enum { NAME_NONE = 0, NAME_NATIVE = 1, NAME_DELEGATED = 2 };

static int
classify_name(TagSearch *self, const unsigned char *d, Py_ssize_t n, Py_ssize_t s, PyObject **entry,
              Py_ssize_t *end)
{
    Py_ssize_t e = s;
    if (e < n && d[e] == '/') {
        e++;
    }
    while (e < n && !DELIM[d[e]]) {
        e++;
    }
    if (e >= n || e == s) {
        return NAME_NONE;
    }
    Py_ssize_t len = e - s;
    for (int k = self->heads[name_slot(d, s, e)]; k >= 0; k = self->keys[k].next) {
        if (self->keys[k].len == len && equal_ci(d, s, self->keys[k].key, len)) {
            if (self->keys[k].entry == NULL) {
                return NAME_DELEGATED;
            }
            *entry = self->keys[k].entry;
            *end = e;
            return NAME_NATIVE;
        }
    }
    return NAME_NONE;
}

static PyObject *
find(TagSearch *self, PyObject *data, Py_ssize_t pos, int comments_native, Py_ssize_t *at, int *comment,
     PyObject **entry, Py_ssize_t *name_end)
{
    int native = comments_native && self->native != Py_None;
    *entry = NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    Py_ssize_t width = self->width;
    int with_quiet = PyTuple_GET_SIZE(self->quiet) > 0;
    *comment = 0;
    if (pos < 0) {
        pos = 0;
    }
    while (pos < n) {
        const unsigned char *lt = memchr(d + pos, '<', (size_t)(n - pos));
        if (lt == NULL) {
            break;
        }
        Py_ssize_t p = lt - d, s = p + 1;
        pos = p + 1;
        int ask, named = NAME_NONE;
        if (self->a_alternative && s + 1 < n && LOWER[d[s]] == 'a' && DELIM[d[s + 1]]) {
            ask = 1; /* `<a ping>`, unless `a` is a native key */
            if (native && (named = classify_name(self, d, n, s, entry, name_end)) < 0) {
                return NULL;
            }
        }
        else if (s + width > n) {
            ask = 0; /* the prefilter's lookahead needs `width` bytes */
        }
        else {
            ask = self->classes[0][d[s]] && (width < 2 || self->classes[1][d[s + 1]]) &&
                  (width < 3 || self->classes[2][d[s + 2]]);
            if (ask && comments_native && s + 3 <= n && d[s] == '!' && d[s + 1] == '-' && d[s + 2] == '-') {
                *at = p;
                *comment = 1;
                Py_RETURN_NONE;
            }
            if (ask && native) {
                if ((named = classify_name(self, d, n, s, entry, name_end)) < 0) {
                    return NULL;
                }
                /* not a native key, nor a comment: the pattern can only match a key with a
                 * lookahead of its own (a quiet name, body, meta...) */
                ask = named != NAME_NONE;
            }
            PyObject *quiet_name = NULL;
            if (ask && named != NAME_NATIVE && with_quiet && self->quiet_first[d[s]] &&
                quiet_name_at(self, d, n, s, &quiet_name) == 1) {
                int calm = harmless(self, d, n, s);
                if (calm < 0) {
                    return NULL;
                }
                ask = calm != 1;
                if (calm == CERTAIN && native && self->quiet_leaves != Py_None) {
                    /* The lookahead passes: what is left of the pattern is the name's leaf,
                     * read here as a native one (the name and its delimiter are there). */
                    PyObject *leaf = PyDict_GetItemWithError(self->quiet_leaves, quiet_name);
                    if (leaf == NULL && PyErr_Occurred()) {
                        return NULL;
                    }
                    if (leaf != NULL) {
                        *entry = leaf;
                        *name_end = s + PyBytes_GET_SIZE(quiet_name);
                        named = NAME_NATIVE;
                    }
                }
            }
        }
        if (named == NAME_NATIVE) {
            *at = p;
            Py_RETURN_NONE; /* with *entry set */
        }
        if (!ask) {
            continue;
        }
        /* search(): the caller's (lower-cased) bytes; scan(): the page as it is, so the tag
         * (to the `>` that ends it, or to the end of the bytes) is lower-cased for the pattern,
         * whose lookaheads read no further than that */
        PyObject *subject = data, *where;
        Py_ssize_t from = p;
        if (comments_native) {
            Py_ssize_t close = tag_close(d, n, s);
            subject = lowered(d, p, close < 0 ? n : close + 1);
            from = 0;
        }
        else {
            Py_INCREF(subject);
        }
        where = subject == NULL ? NULL : PyLong_FromSsize_t(from);
        if (where == NULL) {
            Py_XDECREF(subject);
            return NULL;
        }
        PyObject *call[2] = {subject, where};
        PyObject *m = PyObject_Vectorcall(self->match, call, 2, NULL);
        Py_DECREF(where);
        Py_DECREF(subject);
        if (m != Py_None) {
            *at = p;
            return m; /* a Match (on the slice from p in scan()), or NULL with the error set */
        }
        Py_DECREF(m);
    }
    Py_RETURN_NONE;
}

static PyObject *
TagSearch_search(TagSearch *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "search(data: bytes, pos: int)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t at, name_end;
    int comment;
    PyObject *entry;
    return find(self, args[0], pos, 0, &at, &comment, &entry, &name_end);
}

static Py_ssize_t settle_at(const unsigned char *d, Py_ssize_t lo, Py_ssize_t p);

/* Where the comment starting at p ends (`<!-->`, `<!--->`, else the first `-->` or `--!>`),
 * or -1 when it does not end in d[:n]. */
static Py_ssize_t
comment_end(const unsigned char *d, Py_ssize_t n, Py_ssize_t p)
{
    Py_ssize_t s = p + 4;
    if (s < n && d[s] == '>') {
        return s + 1;
    }
    if (s + 1 < n && d[s] == '-' && d[s + 1] == '>') {
        return s + 2;
    }
    for (Py_ssize_t i = s; i + 2 < n; i++) {
        if (d[i] == '-' && d[i + 1] == '-') {
            if (d[i + 2] == '>') {
                return i + 3;
            }
            if (d[i + 2] == '!' && i + 3 < n && d[i + 3] == '>') {
                return i + 4;
            }
        }
    }
    return -1;
}

/* Where the tag whose attributes start at i ends: the index of its `>`, read with the
 * attribute grammar of consentgate.html.grammar.ATTRS (a quote opens a value only after `=`),
 * or -1 when the bytes end first (or an `=` is followed by an unclosed quote). */
static Py_ssize_t
tag_close(const unsigned char *d, Py_ssize_t n, Py_ssize_t i)
{
    for (;;) {
        if (i >= n) {
            return -1;
        }
        unsigned char c = d[i];
        if (SPACE[c] || c == '/') {
            while (i < n && (SPACE[d[i]] || d[i] == '/')) {
                i++;
            }
            continue;
        }
        if (c == '>') {
            return i;
        }
        Py_ssize_t j = i + 1; /* a name: its first byte may be `=` */
        while (j < n && !SPACE[d[j]] && d[j] != '/' && d[j] != '=' && d[j] != '>') {
            j++;
        }
        Py_ssize_t k = j;
        while (k < n && SPACE[d[k]]) {
            k++;
        }
        if (k >= n || d[k] != '=') {
            i = j; /* a name without a value */
            continue;
        }
        k++;
        while (k < n && SPACE[d[k]]) {
            k++;
        }
        if (k >= n) {
            return -1;
        }
        if (d[k] == '"' || d[k] == '\'') {
            const unsigned char *close = memchr(d + k + 1, d[k], (size_t)(n - k - 1));
            if (close == NULL) {
                return -1;
            }
            i = close - d + 1;
        }
        else if (d[k] == '>') {
            i = k; /* an empty value */
        }
        else {
            Py_ssize_t v = k + 1;
            while (v < n && !SPACE[d[v]] && d[v] != '>') {
                v++;
            }
            i = v;
        }
    }
}

/* (group, start, end, attributes' end, end tag's start) for a native leaf at p, as the pattern
 * reads it (see fastscan.scan_py). */
/* (a, b, c, d, e) as a tuple of ints */
static PyObject *
five(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c, Py_ssize_t d, Py_ssize_t e)
{
    Py_ssize_t values[5] = {a, b, c, d, e};
    PyObject *out = PyTuple_New(5);
    if (out == NULL) {
        return NULL;
    }
    for (int k = 0; k < 5; k++) {
        PyObject *v = PyLong_FromSsize_t(values[k]);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, k, v);
    }
    return out;
}

static PyObject *
native_match(PyObject *entry, const unsigned char *d, Py_ssize_t n, Py_ssize_t p, Py_ssize_t name_end)
{
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyBytes_Check(PyTuple_GET_ITEM(entry, 2))) {
        PyErr_SetString(PyExc_TypeError, "a native entry is (group, kind, name)");
        return NULL;
    }
    Py_ssize_t group = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 0));
    Py_ssize_t kind = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 1));
    PyObject *name = PyTuple_GET_ITEM(entry, 2);
    if ((group == -1 || kind == -1) && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t attrs_end = tag_close(d, n, name_end);
    Py_ssize_t end = attrs_end >= 0 ? attrs_end + 1 : name_end, tag_start = -1;
    if (attrs_end >= 0 && kind != 0) {
        const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(name);
        Py_ssize_t len = PyBytes_GET_SIZE(name);
        Py_ssize_t c = attrs_end + 1;
        while (c < n) {
            const unsigned char *lt = memchr(d + c, '<', (size_t)(n - c));
            if (lt == NULL) {
                break;
            }
            Py_ssize_t q = lt - d;
            if (q + 2 + len < n && d[q + 1] == '/' && equal_ci(d, q + 2, raw, len) &&
                DELIM[d[q + 2 + len]]) {
                Py_ssize_t close = tag_close(d, n, q + 2 + len);
                if (close >= 0) {
                    tag_start = q;
                    end = close + 1;
                }
                break;
            }
            if (kind == 1 && q + 3 < n && d[q + 1] == '!' && d[q + 2] == '-' && d[q + 3] == '-') {
                break; /* escaped script data: the exact scanner's */
            }
            c = q + 1;
        }
    }
    return five(group, p, end, attrs_end, tag_start);
}

/* The same tuple from the pattern's Match. */
static PyObject *
match_tuple(TagSearch *self, PyObject *m, Py_ssize_t p)
{
    /* m matched the tag lower-cased from p on: its offsets are relative to p */
    PyObject *last = PyObject_GetAttrString(m, "lastindex");
    if (last == NULL) {
        return NULL;
    }
    Py_ssize_t group = last == Py_None ? 0 : PyLong_AsSsize_t(last);
    Py_DECREF(last);
    if (group == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t spans[3] = {-1, -1, -1}; /* end(), end(group + 1), start(group + 2) */
    const char *methods[3] = {"end", "end", "start"};
    Py_ssize_t groups[3] = {0, group + 1, group + 2};
    int count = group < 1024 && self->raw_groups[group] ? 3 : 2;
    for (int k = 0; k < count; k++) {
        PyObject *v = PyObject_CallMethod(m, methods[k], "n", groups[k]);
        if (v == NULL) {
            return NULL;
        }
        spans[k] = PyLong_AsSsize_t(v);
        Py_DECREF(v);
        if (spans[k] == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (spans[k] >= 0) {
            spans[k] += p;
        }
    }
    return five(group, p, spans[0], spans[1], spans[2]);
}

static PyObject *
scan_result(int code, PyObject *m, Py_ssize_t lo)
{
    /* (code, m, lo), stealing m: built directly, no format string to parse per candidate */
    PyObject *out = PyTuple_New(3), *c = PyLong_FromLong(code), *l = PyLong_FromSsize_t(lo);
    if (out == NULL || c == NULL || l == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(c);
        Py_XDECREF(l);
        Py_DECREF(m);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, c);
    PyTuple_SET_ITEM(out, 1, m);
    PyTuple_SET_ITEM(out, 2, l);
    return out;
}

/* scan(data, pos, lo, n, final): consentgate.html.fastscan.scan_py in C (see there). */
static PyObject *
TagSearch_scan(TagSearch *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan(data: bytes, pos: int, lo: int, n: int, final: bool)");
        return NULL;
    }
    PyObject *data = args[0];
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t lo = PyLong_AsSsize_t(args[2]);
    Py_ssize_t n = PyLong_AsSsize_t(args[3]);
    int final = PyObject_IsTrue(args[4]);
    if (PyErr_Occurred() || final < 0) {
        return NULL;
    }
    if (lo < 0 || lo > size) {
        PyErr_SetString(PyExc_ValueError, "scan: 0 <= lo <= len(data)");
        return NULL;
    }
    for (;;) {
        Py_ssize_t p = -1, name_end = -1;
        int comment = 0;
        PyObject *entry = NULL;
        PyObject *m = find(self, data, pos, 1, &p, &comment, &entry, &name_end);
        if (m == NULL) {
            return NULL;
        }
        if (m == Py_None && !comment && entry == NULL) {
            return scan_result(1, m, lo);
        }
        if (p > lo && settle_at(d, lo, p) != p) {
            return scan_result(2, m, lo); /* not surely in the data state */
        }
        if (entry != NULL) {
            Py_DECREF(m);
            PyObject *found = native_match(entry, d, size, p, name_end);
            return found == NULL ? NULL : scan_result(0, found, lo);
        }
        if (!comment) {
            PyObject *found = match_tuple(self, m, p);
            Py_DECREF(m);
            return found == NULL ? NULL : scan_result(0, found, lo);
        }
        Py_DECREF(m);
        Py_ssize_t end = comment_end(d, size, p);
        if (end < 0 || (p + 6 > n && !final)) {
            Py_INCREF(Py_None);
            return scan_result(2, Py_None, lo); /* unfinished, or too short to tell yet */
        }
        lo = pos = end;
    }
}

static PyMethodDef TagSearch_methods[] = {
    {"search", (PyCFunction)(void (*)(void))TagSearch_search, METH_FASTCALL,
     "search(data, pos) -> the pattern's first Match at or after pos, or None."},
    {"scan", (PyCFunction)(void (*)(void))TagSearch_scan, METH_FASTCALL,
     "scan(data, pos, lo, n, final) -> (code, Match or None, lo): see fastscan.scan_py."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TagSearchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "consentgate.html._speedups.TagSearch",
    .tp_basicsize = sizeof(TagSearch),
    .tp_dealloc = (destructor)TagSearch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The fast-path pattern's search, with the positions it cannot match skipped in C.",
    .tp_methods = TagSearch_methods,
    .tp_init = (initproc)TagSearch_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------------------- */
/* LiteralSet                                                                            */

typedef struct {
    PyObject_HEAD
    PyObject *literals;      /* tuple of bytes */
    unsigned char single[256];     /* 1 where a one-byte literal starts with the byte */
    unsigned char pairs[65536 / 8]; /* bitmap of the first two bytes of longer literals */
    Py_ssize_t *head;        /* 65536 + 256 chain heads (pairs, then single bytes), -1 = none */
    Py_ssize_t *next;        /* per literal: the next one with the same head, -1 = none */
} LiteralSet;

static void
LiteralSet_dealloc(LiteralSet *self)
{
    Py_XDECREF(self->literals);
    PyMem_Free(self->head);
    PyMem_Free(self->next);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
LiteralSet_init(LiteralSet *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"literals", NULL};
    PyObject *literals;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!", kwlist, &PyTuple_Type, &literals)) {
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(literals);
    Py_ssize_t *head = PyMem_Malloc(sizeof(Py_ssize_t) * (65536 + 256));
    Py_ssize_t *next = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(count ? count : 1));
    if (head == NULL || next == NULL) {
        PyMem_Free(head);
        PyMem_Free(next);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < 65536 + 256; k++) {
        head[k] = -1;
    }
    memset(self->pairs, 0, sizeof(self->pairs));
    memset(self->single, 0, sizeof(self->single));
    /* chained in reverse so that each chain lists literals in tuple order */
    for (Py_ssize_t k = count - 1; k >= 0; k--) {
        PyObject *lit = PyTuple_GET_ITEM(literals, k);
        if (!PyBytes_Check(lit) || PyBytes_GET_SIZE(lit) == 0) {
            PyMem_Free(head);
            PyMem_Free(next);
            PyErr_SetString(PyExc_TypeError, "literals: a tuple of non-empty bytes");
            return -1;
        }
        const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(lit);
        Py_ssize_t slot;
        if (PyBytes_GET_SIZE(lit) == 1) {
            slot = 65536 + raw[0];
            self->single[raw[0]] = 1;
        }
        else {
            slot = raw[0] | (raw[1] << 8);
            self->pairs[slot >> 3] |= (unsigned char)(1 << (slot & 7));
        }
        next[k] = head[slot];
        head[slot] = k;
    }
    PyMem_Free(self->head);
    PyMem_Free(self->next);
    self->head = head;
    self->next = next;
    Py_INCREF(literals);
    Py_XSETREF(self->literals, literals);
    return 0;
}

static int
append_hit(PyObject *out, Py_ssize_t at, Py_ssize_t index)
{
    PyObject *pair = Py_BuildValue("(nn)", at, index);
    if (pair == NULL) {
        return -1;
    }
    int failed = PyList_Append(out, pair);
    Py_DECREF(pair);
    return failed;
}

static int
chain(LiteralSet *self, PyObject *out, const unsigned char *d, Py_ssize_t i, Py_ssize_t end, Py_ssize_t slot)
{
    for (Py_ssize_t k = self->head[slot]; k >= 0; k = self->next[k]) {
        PyObject *lit = PyTuple_GET_ITEM(self->literals, k);
        Py_ssize_t len = PyBytes_GET_SIZE(lit);
        if (i + len <= end && memcmp(d + i, PyBytes_AS_STRING(lit), (size_t)len) == 0) {
            if (append_hit(out, i, k) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The bytes and span of a call's (data, start, end), the span clamped to the data; -1 on error. */
static int
span_of(PyObject *const *args, const unsigned char **d, Py_ssize_t *start, Py_ssize_t *end)
{
    *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    *start = PyLong_AsSsize_t(args[1]);
    *end = PyLong_AsSsize_t(args[2]);
    if ((*start == -1 || *end == -1) && PyErr_Occurred()) {
        return -1;
    }
    if (*end > n) {
        *end = n;
    }
    if (*start < 0) {
        *start = 0;
    }
    return 0;
}

static PyObject *
LiteralSet_find(LiteralSet *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "find(data: bytes, start: int, end: int)");
        return NULL;
    }
    const unsigned char *d;
    Py_ssize_t start, end;
    if (span_of(args, &d, &start, &end) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL || self->head == NULL) {
        return out;
    }
    const unsigned char *pairs = self->pairs;
    for (Py_ssize_t i = start; i < end; i++) {
        if (self->single[d[i]] && chain(self, out, d, i, end, 65536 + d[i]) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (i + 1 < end) {
            unsigned int slot = d[i] | ((unsigned int)d[i + 1] << 8);
            if ((pairs[slot >> 3] >> (slot & 7)) & 1 && chain(self, out, d, i, end, (Py_ssize_t)slot) < 0) {
                Py_DECREF(out);
                return NULL;
            }
        }
    }
    return out;
}

/* The best occurrence in data[start:end] by (rank desc, position asc, length desc), the first
 * of equals, stopping once nothing later can beat one of rank `top`: SignatureScanner.first
 * (consentgate/html/signatures.py) over the hits find() lists, without a Python step each. */
static PyObject *
LiteralSet_first(LiteralSet *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "first(data: bytes, start: int, end: int, ranks: bytes, top: int)");
        return NULL;
    }
    const unsigned char *d;
    Py_ssize_t start, end;
    long top = PyLong_AsLong(args[4]);
    if ((top == -1 && PyErr_Occurred()) || span_of(args, &d, &start, &end) < 0) {
        return NULL;
    }
    const unsigned char *ranks = (const unsigned char *)PyBytes_AS_STRING(args[3]);
    if (self->head == NULL) {
        return PyLong_FromLong(-1);
    }
    if (PyBytes_GET_SIZE(args[3]) != PyTuple_GET_SIZE(self->literals)) {
        PyErr_SetString(PyExc_ValueError, "first: one rank per literal");
        return NULL;
    }
    Py_ssize_t found = -1, best_at = -1, best_len = -1;
    int best_rank = -1;
    for (Py_ssize_t i = start; i < end; i++) {
        if (found >= 0 && best_rank == top && i > best_at) {
            break;
        }
        Py_ssize_t slots[2] = {-1, -1};
        if (self->single[d[i]]) {
            slots[0] = 65536 + d[i];
        }
        if (i + 1 < end) {
            unsigned int slot = d[i] | ((unsigned int)d[i + 1] << 8);
            if ((self->pairs[slot >> 3] >> (slot & 7)) & 1) {
                slots[1] = (Py_ssize_t)slot;
            }
        }
        for (int c = 0; c < 2; c++) {
            if (slots[c] < 0) {
                continue;
            }
            for (Py_ssize_t k = self->head[slots[c]]; k >= 0; k = self->next[k]) {
                PyObject *lit = PyTuple_GET_ITEM(self->literals, k);
                Py_ssize_t len = PyBytes_GET_SIZE(lit);
                if (i + len > end || memcmp(d + i, PyBytes_AS_STRING(lit), (size_t)len) != 0) {
                    continue;
                }
                int rank = ranks[k];
                if (found < 0 || rank > best_rank || (rank == best_rank && (i < best_at || (i == best_at && len > best_len)))) {
                    found = k;
                    best_rank = rank;
                    best_at = i;
                    best_len = len;
                }
            }
        }
    }
    return PyLong_FromSsize_t(found);
}

static PyMethodDef LiteralSet_methods[] = {
    {"first", (PyCFunction)(void (*)(void))LiteralSet_first, METH_FASTCALL,
     "first(data, start, end, ranks, top) -> the index of SignatureScanner.first's literal, or -1."},
    {"find", (PyCFunction)(void (*)(void))LiteralSet_find, METH_FASTCALL,
     "find(data, start, end) -> [(position, index)] of every occurrence inside data[start:end], "
     "by position, then index."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LiteralSetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "consentgate.html._speedups.LiteralSet",
    .tp_basicsize = sizeof(LiteralSet),
    .tp_dealloc = (destructor)LiteralSet_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Every occurrence of a set of literal byte strings.",
    .tp_methods = LiteralSet_methods,
    .tp_init = (initproc)LiteralSet_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------------------- */
/* settle: consentgate.html.fastscan.settle, the same answer for the same bytes            */

static Py_ssize_t
last_of(const unsigned char *d, Py_ssize_t lo, Py_ssize_t hi, unsigned char byte)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE) /* pyconfig.h defines it on Linux */
    if (hi <= lo) {
        return -1;
    }
    const unsigned char *at = memrchr(d + lo, byte, (size_t)(hi - lo));
    return at == NULL ? -1 : at - d;
#else
    for (Py_ssize_t i = hi - 1; i >= lo; i--) {
        if (d[i] == byte) {
            return i;
        }
    }
    return -1;
#endif
}

static PyObject *
settle(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "settle(buf: bytes, lo: int, p: int)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t lo = PyLong_AsSsize_t(args[1]);
    Py_ssize_t p = PyLong_AsSsize_t(args[2]);
    if ((lo == -1 || p == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (lo < 0 || p > n || lo > p) {
        PyErr_SetString(PyExc_ValueError, "settle: 0 <= lo <= p <= len(buf)");
        return NULL;
    }
    return PyLong_FromSsize_t(settle_at(d, lo, p));
}

static Py_ssize_t
settle_at(const unsigned char *d, Py_ssize_t lo, Py_ssize_t p)
{
    Py_ssize_t g = last_of(d, lo, p, '>');
    if (g >= 0) {
        const unsigned char quotes[2] = {'"', '\''};
        for (int k = 0; k < 2; k++) {
            Py_ssize_t q = last_of(d, lo, g, quotes[k]) - 1;
            while (q > lo && SPACE[d[q]]) {
                q--;
            }
            if (q >= lo && d[q] == '=') {
                return -1;
            }
        }
    }
    for (Py_ssize_t i = g >= 0 ? g + 1 : lo; i < p; i++) {
        if (d[i] == '<') {
            if (i + 1 == p) {
                return i;
            }
            unsigned char c = d[i + 1];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '!' || c == '/' || c == '?') {
                return i;
            }
        }
    }
    return p;
}

/* Is `ping` (any case) at i followed by white space and `=`, or by white space to the end? */
static int
ping_at(const unsigned char *d, Py_ssize_t n, Py_ssize_t i)
{
    if (i + 4 > n || LOWER[d[i]] != 'p' || LOWER[d[i + 1]] != 'i' || LOWER[d[i + 2]] != 'n' ||
        LOWER[d[i + 3]] != 'g') {
        return 0;
    }
    Py_ssize_t j = i + 4;
    while (j < n && SPACE[d[j]]) {
        j++;
    }
    return j == n || d[j] == '=';
}

/* says_ping(data, start): does `ping`, in any case, followed by white space and `=` (or by
 * white space up to the end: the `=` may come in the next feed) occur from start? The
 * tokenizer's _PING on lower-cased bytes. */
static PyObject *
says_ping(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "says_ping(data: bytes, start: int)");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t i = start < 0 ? 0 : start;
#if defined(__SSE2__)
    /* sixteen positions a step: where the four bytes from each spell `ping` in any case (OR
     * 0x20 folds only the letter's own upper case onto it), the rest is checked one by one */
    const __m128i fold = _mm_set1_epi8(0x20);
    const __m128i p = _mm_set1_epi8('p'), i_ = _mm_set1_epi8('i'), n_ = _mm_set1_epi8('n'), g = _mm_set1_epi8('g');
    for (; i + 19 <= n; i += 16) {
        __m128i m0 = _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(d + i)), fold), p);
        __m128i m1 = _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(d + i + 1)), fold), i_);
        __m128i m2 = _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(d + i + 2)), fold), n_);
        __m128i m3 = _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(d + i + 3)), fold), g);
        unsigned int mask = (unsigned int)_mm_movemask_epi8(
            _mm_and_si128(_mm_and_si128(m0, m1), _mm_and_si128(m2, m3)));
        while (mask) {
            if (ping_at(d, n, i + __builtin_ctz(mask))) {
                Py_RETURN_TRUE;
            }
            mask &= mask - 1;
        }
    }
#endif
    for (; i + 4 <= n; i++) {
        if (ping_at(d, n, i)) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

static PyMethodDef module_methods[] = {
    {"settle", (PyCFunction)(void (*)(void))settle, METH_FASTCALL,
     "settle(buf, lo, p): consentgate.html.fastscan.settle in C."},
    {"says_ping", (PyCFunction)(void (*)(void))says_ping, METH_FASTCALL,
     "says_ping(data, start): `ping=` in any case from start (the tokenizer's _PING)."},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------------------------- */

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "consentgate.html._speedups",
    .m_doc = "Optional C speed-ups for consentgate.html (see consentgate/html/accel.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_classes();
    if (PyType_Ready(&TagSearchType) < 0 || PyType_Ready(&LiteralSetType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&TagSearchType);
    Py_INCREF(&LiteralSetType);
    if (PyModule_AddObject(m, "TagSearch", (PyObject *)&TagSearchType) < 0 ||
        PyModule_AddObject(m, "LiteralSet", (PyObject *)&LiteralSetType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
