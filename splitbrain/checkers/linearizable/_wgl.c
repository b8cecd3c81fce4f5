/* The compiled core of the linearizability search, for register models.

   The same algorithm as search.py (Lowe's just-in-time linearization, memo of (linearized
   bitset, state), the twins rule), on ops encoded as integers: kind READ a (legal iff the
   state is a), WRITE a (state becomes a), CAS a b (legal iff the state is a; becomes b), NOOP.
   search.py stays the reference implementation; the tests compare the two.

   search(kinds: bytes, a: list[int], b: list[int], has_ret: bytes, order: list[int],
          twin_start: list[int], twin_list: list[int], init: int, deadline: float,
          max_bytes: int) -> (status, prefix: list[int], stuck: int, explored: int)
   order: the entry ids (2*i call, 2*i+1 return) in history order; deadline: a
   time.monotonic() value, or a negative number for none; status: 1 linearizable,
   0 not, 2 time limit, 3 memory limit. The GIL is released while searching. An encoding whose
   indices do not fit together raises ValueError before any is followed. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { K_NOOP = 0, K_READ = 1, K_WRITE = 2, K_CAS = 3 };
enum { S_ILLEGAL = 0, S_VALID = 1, S_TIME = 2, S_MEMORY = 3, S_NOMEM = 4 };

typedef struct {
    Py_ssize_t nw;       /* 64-bit words per bitset */
    size_t cap;          /* slots, a power of two */
    size_t count;        /* entries */
    size_t arena_cap;    /* entries the arena holds */
    int64_t *slots;      /* entry index + 1; 0 = empty */
    uint64_t *arena;     /* per entry: nw bitset words, then the state */
    size_t max_bytes;
} Memo;

static uint64_t entry_hash(const uint64_t *bits, Py_ssize_t nw, int64_t state) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)state * 0xff51afd7ed558ccdULL);
    for (Py_ssize_t i = 0; i < nw; i++) {
        h ^= bits[i] + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
        h *= 0xc4ceb9fe1a85ec53ULL;
    }
    return h ^ (h >> 31);
}

static size_t memo_bytes(const Memo *m, size_t cap, size_t arena_cap) {
    return cap * sizeof(int64_t) + arena_cap * (size_t)(m->nw + 1) * sizeof(uint64_t);
}

static int memo_grow_table(Memo *m) {
    size_t cap = m->cap * 2;
    if (m->max_bytes && memo_bytes(m, cap, m->arena_cap) > m->max_bytes) return S_MEMORY;
    int64_t *slots = calloc(cap, sizeof(int64_t));
    if (!slots) return S_NOMEM;
    Py_ssize_t stride = m->nw + 1;
    for (size_t k = 0; k < m->count; k++) {
        uint64_t *e = m->arena + k * stride;
        size_t j = entry_hash(e, m->nw, (int64_t)e[m->nw]) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = (int64_t)k + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* 1: inserted (new), 0: present, or a negative status. */
static int memo_add(Memo *m, const uint64_t *bits, int64_t state) {
    Py_ssize_t stride = m->nw + 1;
    size_t j = entry_hash(bits, m->nw, state) & (m->cap - 1);
    while (m->slots[j]) {
        uint64_t *e = m->arena + (size_t)(m->slots[j] - 1) * stride;
        if ((int64_t)e[m->nw] == state && memcmp(e, bits, m->nw * sizeof(uint64_t)) == 0) return 0;
        j = (j + 1) & (m->cap - 1);
    }
    if (m->count == m->arena_cap) {
        size_t arena_cap = m->arena_cap * 2;
        if (m->max_bytes && memo_bytes(m, m->cap, arena_cap) > m->max_bytes) return -S_MEMORY;
        uint64_t *arena = realloc(m->arena, arena_cap * stride * sizeof(uint64_t));
        if (!arena) return -S_NOMEM;
        m->arena = arena;
        m->arena_cap = arena_cap;
    }
    uint64_t *e = m->arena + m->count * stride;
    memcpy(e, bits, m->nw * sizeof(uint64_t));
    e[m->nw] = (uint64_t)state;
    m->slots[j] = (int64_t)m->count + 1;
    m->count++;
    if (m->count * 2 > m->cap) {
        int r = memo_grow_table(m);
        if (r) return -r;
    }
    return 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    Py_ssize_t n;
    const unsigned char *kinds, *has_ret;
    int64_t *a, *b, *order, *twin_start, *twin_list;
    Py_ssize_t order_len;
    int64_t init;
    double deadline;
    /* results */
    Py_ssize_t *best;
    Py_ssize_t best_len, stuck;
    size_t explored;
} Job;

static int run(Job *job, Memo *memo) {
    Py_ssize_t n = job->n, head = 2 * n;
    Py_ssize_t *nxt = malloc((2 * n + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *prv_base = malloc((2 * n + 2) * sizeof(Py_ssize_t));
    Py_ssize_t *stack_op = malloc((n + 1) * sizeof(Py_ssize_t));
    int64_t *stack_state = malloc((n + 1) * sizeof(int64_t));
    unsigned char *done = calloc(n + 1, 1);
    uint64_t *bits = calloc(memo->nw, sizeof(uint64_t));
    int status = S_NOMEM;
    if (!nxt || !prv_base || !stack_op || !stack_state || !done || !bits) goto out;
    Py_ssize_t *prv = prv_base + 1; /* prv[-1] absorbs writes for the end of the list */

    Py_ssize_t last = head;
    for (Py_ssize_t k = 0; k < job->order_len; k++) {
        Py_ssize_t e = (Py_ssize_t)job->order[k];
        nxt[last] = e;
        prv[e] = last;
        last = e;
    }
    nxt[last] = -1;

    int64_t state = job->init;
    Py_ssize_t depth = 0;
    job->best_len = -1;
    job->stuck = -1;
    unsigned countdown = 4096;
    Py_ssize_t e = nxt[head];
    while (e != -1) {
        if ((e & 1) == 0) {
            Py_ssize_t i = e >> 1;
            if (--countdown == 0) {
                countdown = 4096;
                if (job->deadline >= 0 && now() > job->deadline) { status = S_TIME; goto out; }
            }
            int skip = 0;
            for (int64_t t = job->twin_start[i]; t < job->twin_start[i + 1]; t++)
                if (!done[job->twin_list[t]]) { skip = 1; break; }
            if (skip) { e = nxt[e]; continue; }
            int64_t new_state;
            int legal = 1;
            switch (job->kinds[i]) {
            case K_READ: legal = state == job->a[i]; new_state = state; break;
            case K_WRITE: new_state = job->a[i]; break;
            case K_CAS: legal = state == job->a[i]; new_state = job->b[i]; break;
            default: new_state = state;
            }
            if (legal) {
                bits[i >> 6] |= (uint64_t)1 << (i & 63);
                int r = memo_add(memo, bits, new_state);
                if (r < 0) { status = -r; goto out; }
                if (r == 1) {
                    stack_op[depth] = i;
                    stack_state[depth] = state;
                    depth++;
                    state = new_state;
                    done[i] = 1;
                    Py_ssize_t p = prv[e], q = nxt[e];
                    nxt[p] = q; prv[q] = p;
                    if (job->has_ret[i]) {
                        Py_ssize_t rr = e | 1;
                        p = prv[rr]; q = nxt[rr];
                        nxt[p] = q; prv[q] = p;
                    }
                    e = nxt[head];
                    continue;
                }
                bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
            }
            e = nxt[e];
        } else {
            if (job->stuck < 0 || depth > job->best_len) {
                memcpy(job->best, stack_op, depth * sizeof(Py_ssize_t));
                job->best_len = depth;
                job->stuck = e >> 1;
            }
            if (depth == 0) { status = S_ILLEGAL; goto out; }
            depth--;
            Py_ssize_t i = stack_op[depth];
            state = stack_state[depth];
            bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
            done[i] = 0;
            Py_ssize_t c = 2 * i;
            if (job->has_ret[i]) {
                Py_ssize_t rr = c | 1;
                Py_ssize_t p = prv[rr], q = nxt[rr];
                nxt[p] = rr; prv[q] = rr;
            }
            Py_ssize_t p = prv[c], q = nxt[c];
            nxt[p] = c; prv[q] = c;
            e = nxt[c];
        }
    }
    memcpy(job->best, stack_op, depth * sizeof(Py_ssize_t));
    job->best_len = depth;
    job->stuck = -1;
    status = S_VALID;
out:
    job->explored = memo->count;
    free(nxt); free(prv_base); free(stack_op); free(stack_state); free(done); free(bits);
    return status;
}

static int64_t *int_array(PyObject *seq, Py_ssize_t *len) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of ints");
    if (!fast) return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    int64_t *out = malloc((k + 1) * sizeof(int64_t));
    if (!out) { Py_DECREF(fast); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t j = 0; j < k; j++) {
        out[j] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, j));
        if (out[j] == -1 && PyErr_Occurred()) { free(out); Py_DECREF(fast); return NULL; }
    }
    Py_DECREF(fast);
    if (len) *len = k;
    return out;
}

/* 0 if the encoded job is well formed (every index the search follows is in bounds), else -1
   with a ValueError set: a and b hold n values, twin_start n + 1 non-decreasing offsets into
   twin_list, twin_list op ids, and order every call entry once and the return entry of
   exactly the ops with has_ret, once. */
static int check_job(const Job *job, Py_ssize_t a_len, Py_ssize_t b_len, Py_ssize_t ts_len,
                     Py_ssize_t tl_len) {
    Py_ssize_t n = job->n;
    const char *bad = NULL;
    if (a_len != n || b_len != n) bad = "a and b must hold one value per op";
    else if (ts_len != n + 1 || job->twin_start[0] != 0 || job->twin_start[n] != tl_len)
        bad = "twin_start must hold n + 1 offsets from 0 to len(twin_list)";
    for (Py_ssize_t i = 0; !bad && i < n; i++)
        if (job->twin_start[i] > job->twin_start[i + 1]) bad = "twin_start must not decrease";
    for (Py_ssize_t t = 0; !bad && t < tl_len; t++)
        if (job->twin_list[t] < 0 || job->twin_list[t] >= n) bad = "twin_list holds an op id out of range";
    if (!bad) {
        unsigned char *seen = calloc(2 * n + 1, 1);
        if (!seen) { PyErr_NoMemory(); return -1; }
        Py_ssize_t expected = 0;
        for (Py_ssize_t i = 0; i < n; i++) expected += 1 + (job->has_ret[i] != 0);
        if (job->order_len != expected) bad = "order must list each call and each return once";
        for (Py_ssize_t k = 0; !bad && k < job->order_len; k++) {
            int64_t e = job->order[k];
            if (e < 0 || e >= 2 * n || seen[e] || ((e & 1) && !job->has_ret[e >> 1]))
                bad = "order must list each call and each return once";
            else
                seen[e] = 1;
        }
        free(seen);
    }
    if (bad) { PyErr_SetString(PyExc_ValueError, bad); return -1; }
    return 0;
}

static PyObject *py_search(PyObject *self, PyObject *args) {
    Py_buffer kinds, has_ret;
    PyObject *a_obj, *b_obj, *order_obj, *ts_obj, *tl_obj;
    long long init;
    double deadline;
    unsigned long long max_bytes;
    if (!PyArg_ParseTuple(args, "y*OOy*OOOLdK", &kinds, &a_obj, &b_obj, &has_ret, &order_obj,
                          &ts_obj, &tl_obj, &init, &deadline, &max_bytes))
        return NULL;
    Job job = {0};
    Memo memo = {0};
    PyObject *result = NULL;
    job.n = kinds.len;
    job.kinds = kinds.buf;
    job.has_ret = has_ret.buf;
    job.init = init;
    job.deadline = deadline;
    if (has_ret.len != job.n) { PyErr_SetString(PyExc_ValueError, "has_ret length"); goto out; }
    Py_ssize_t a_len, b_len, ts_len, tl_len;
    if (!(job.a = int_array(a_obj, &a_len)) || !(job.b = int_array(b_obj, &b_len)) ||
        !(job.order = int_array(order_obj, &job.order_len)) || !(job.twin_start = int_array(ts_obj, &ts_len)) ||
        !(job.twin_list = int_array(tl_obj, &tl_len)))
        goto out;
    if (check_job(&job, a_len, b_len, ts_len, tl_len) < 0) goto out;
    job.best = malloc((job.n + 1) * sizeof(Py_ssize_t));
    memo.nw = job.n / 64 + 1;
    memo.cap = 1024;
    memo.arena_cap = 512;
    memo.max_bytes = (size_t)max_bytes;
    memo.slots = calloc(memo.cap, sizeof(int64_t));
    memo.arena = malloc(memo.arena_cap * (memo.nw + 1) * sizeof(uint64_t));
    if (!job.best || !memo.slots || !memo.arena) { PyErr_NoMemory(); goto out; }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = run(&job, &memo);
    Py_END_ALLOW_THREADS
    if (status == S_NOMEM) { PyErr_NoMemory(); goto out; }
    PyObject *prefix = PyList_New(job.best_len > 0 ? job.best_len : 0);
    if (!prefix) goto out;
    for (Py_ssize_t j = 0; j < job.best_len; j++) {
        PyObject *item = PyLong_FromSsize_t(job.best[j]);
        if (!item) { Py_DECREF(prefix); goto out; }
        PyList_SET_ITEM(prefix, j, item);
    }
    result = Py_BuildValue("(iNnn)", status, prefix, job.stuck, (Py_ssize_t)job.explored);
out:
    PyBuffer_Release(&kinds);
    PyBuffer_Release(&has_ret);
    free(job.a); free(job.b); free(job.order); free(job.twin_start); free(job.twin_list);
    free(job.best); free(memo.slots); free(memo.arena);
    return result;
}

/* reachable_reads(state, placed, e, snxt, ops, origins, may_reach, limit) -> bool: the
   lookahead walk of search.py's _reachable_reads (same arguments, same result), in C; only
   may_reach runs in Python. */
static PyObject *py_reachable_reads(PyObject *self, PyObject *args) {
    PyObject *state, *snxt, *ops, *origins, *may_reach;
    Py_ssize_t placed, e, limit;
    if (!PyArg_ParseTuple(args, "OnnO!O!O!On", &state, &placed, &e, &PyList_Type, &snxt,
                          &PyList_Type, &ops, &PyList_Type, &origins, &may_reach, &limit))
        return NULL;
    Py_ssize_t *called = malloc((limit > 0 ? limit : 1) * sizeof(Py_ssize_t));
    if (!called) return PyErr_NoMemory();
    Py_ssize_t nc = 0;
    PyObject *result = Py_True;
    for (Py_ssize_t k = 0; k < limit && e != -1; k++) {
        Py_ssize_t j = e >> 1;
        if (e < 0 || e >= PyList_GET_SIZE(snxt) || j >= PyList_GET_SIZE(ops) ||
            j >= PyList_GET_SIZE(origins) || !PyTuple_Check(PyList_GET_ITEM(origins, j))) {
            free(called);
            PyErr_SetString(PyExc_ValueError, "watch list entry out of range");
            return NULL;
        }
        if (j != placed) {
            if ((e & 1) == 0) {
                called[nc++] = j;
            } else {
                PyObject *orig = PyList_GET_ITEM(origins, j);
                int hit = 0;
                for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(orig) && !hit; t++) {
                    Py_ssize_t x = PyLong_AsSsize_t(PyTuple_GET_ITEM(orig, t));
                    if (x == -1 && PyErr_Occurred()) { free(called); return NULL; }
                    for (Py_ssize_t c = 0; c < nc; c++)
                        if (called[c] == x) { hit = 1; break; }
                }
                if (!hit) {
                    PyObject *r = PyObject_CallFunctionObjArgs(may_reach, state,
                                                               PyList_GET_ITEM(ops, j), NULL);
                    int ok = r ? PyObject_IsTrue(r) : -1;
                    Py_XDECREF(r);
                    if (ok < 0) { free(called); return NULL; }
                    if (!ok) { result = Py_False; break; }
                }
            }
        }
        e = PyLong_AsSsize_t(PyList_GET_ITEM(snxt, e));
        if (e == -1 && PyErr_Occurred()) { free(called); return NULL; }
    }
    free(called);
    Py_INCREF(result);
    return result;
}

static PyMethodDef methods[] = {
    {"reachable_reads", py_reachable_reads, METH_VARARGS, "The lookahead walk of search.py."},
    {"search", py_search, METH_VARARGS, "Lowe's linearizability search on integer-encoded register ops."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wgl", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wgl(void) { return PyModule_Create(&module); }
