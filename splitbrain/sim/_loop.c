/* The compiled core of splitbrain.sim.loop.VirtualLoop: its ready queue, its timer heap and
 * one iteration (optional, like _wire: without it the loop runs its Python methods).
 *
 * Rules (those of loop.py, which this must keep exactly: a seed's history may not depend on
 * whether the core was built):
 *  1. call_soon, call_later, call_at and call_at_plain do what the Python methods of the same
 *     names do; timers are ordered by (when, seq), seq counting every timer and plain call.
 *  2. run_once is VirtualLoop._run_once: sweep cancelled timers when they are over half the
 *     heap; with nothing ready (and not stopping) jump the clock to the earliest live timer,
 *     raising Deadlock without one and TimeLimit past the limit; make every timer due within
 *     1 ns ready; run the callbacks that were ready when the iteration began, in order.
 *  3. A callback runs in its handle's context (a plain call: in the current one). An exception
 *     goes to the loop's exception handler, as asyncio's handles report them; SystemExit and
 *     KeyboardInterrupt propagate, and the callbacks not yet run stay ready.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MIN_CANCELLED 100
#define RESOLUTION 1e-9

typedef struct CoreObject CoreObject;

typedef struct {
    PyObject_HEAD
    PyObject *callback;
    PyObject *args;      /* a tuple */
    PyObject *context;   /* NULL: a plain call */
    CoreObject *core;    /* timers: the core whose cancelled timers this counts in */
    double when;
    char cancelled;
    char scheduled;
} HandleObject;

typedef struct {
    double when;
    unsigned long long seq;
    HandleObject *h;     /* owned */
} Entry;

struct CoreObject {
    PyObject_HEAD
    double now;
    double limit;
    unsigned long long seq;
    Py_ssize_t cancelled;           /* cancelled timers still in the heap */
    char closed;
    Entry *heap;
    Py_ssize_t heap_len, heap_cap;
    HandleObject **ready;           /* owned */
    Py_ssize_t ready_len, ready_cap;
    HandleObject **spare;           /* the other buffer, empty; ready's while it runs */
    Py_ssize_t spare_cap;
    PyObject *handler;              /* loop.call_exception_handler */
    PyObject *state;                /* the loop's instance dict: its _stopping */
    PyObject *deadlock, *time_limit;
};

static PyObject *str_stopping;

static PyTypeObject HandleType;
static PyTypeObject CoreType;

/* -- handles --------------------------------------------------------------------------- */

static int
Handle_traverse(HandleObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->callback);
    Py_VISIT(self->args);
    Py_VISIT(self->context);
    Py_VISIT(self->core);
    return 0;
}

static int
Handle_clear(HandleObject *self)
{
    Py_CLEAR(self->callback);
    Py_CLEAR(self->args);
    Py_CLEAR(self->context);
    Py_CLEAR(self->core);
    return 0;
}

static void
Handle_dealloc(HandleObject *self)
{
    PyObject_GC_UnTrack(self);
    Handle_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Handle_cancel(HandleObject *self, PyObject *unused)
{
    if (!self->cancelled) {
        self->cancelled = 1;
        if (self->scheduled && self->core != NULL)
            self->core->cancelled++;
        Py_CLEAR(self->callback);  /* as asyncio's handles: drop what the callback holds */
        Py_CLEAR(self->args);
    }
    Py_RETURN_NONE;
}

static PyObject *
Handle_cancelled(HandleObject *self, PyObject *unused)
{
    return PyBool_FromLong(self->cancelled);
}

static PyObject *
Handle_when(HandleObject *self, PyObject *unused)
{
    return PyFloat_FromDouble(self->when);
}

static PyObject *
Handle_get_context(HandleObject *self, PyObject *unused)
{
    if (self->context == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->context);
    return self->context;
}

static PyObject *
Handle_repr(HandleObject *self)
{
    if (self->callback == NULL)
        return PyUnicode_FromFormat("<%s cancelled>", Py_TYPE(self)->tp_name);
    return PyUnicode_FromFormat("<%s %R>", Py_TYPE(self)->tp_name, self->callback);
}

static PyMethodDef Handle_methods[] = {
    {"cancel", (PyCFunction)Handle_cancel, METH_NOARGS, "Do not run the callback."},
    {"cancelled", (PyCFunction)Handle_cancelled, METH_NOARGS, "True once cancelled."},
    {"when", (PyCFunction)Handle_when, METH_NOARGS, "A timer's time (loop seconds)."},
    {"get_context", (PyCFunction)Handle_get_context, METH_NOARGS, "The callback's context."},
    {NULL}
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "splitbrain.sim._loop.Handle",
    .tp_doc = "A callback scheduled on the compiled loop core (asyncio's Handle and "
              "TimerHandle methods).",
    .tp_basicsize = sizeof(HandleObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Handle_traverse,
    .tp_clear = (inquiry)Handle_clear,
    .tp_dealloc = (destructor)Handle_dealloc,
    .tp_repr = (reprfunc)Handle_repr,
    .tp_methods = Handle_methods,
};

static HandleObject *
new_handle(PyObject *callback, PyObject *const *args, Py_ssize_t nargs, PyObject *context,
           int with_context)
{
    HandleObject *h = PyObject_GC_New(HandleObject, &HandleType);
    if (h == NULL)
        return NULL;
    h->callback = NULL;
    h->context = NULL;
    h->core = NULL;
    h->when = 0.0;
    h->cancelled = 0;
    h->scheduled = 0;
    h->args = PyTuple_New(nargs);
    if (h->args == NULL) {
        Py_DECREF(h);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(h->args, i, args[i]);
    }
    Py_INCREF(callback);
    h->callback = callback;
    if (with_context) {
        if (context == NULL || context == Py_None) {
            h->context = PyContext_CopyCurrent();
            if (h->context == NULL) {
                Py_DECREF(h);
                return NULL;
            }
        } else {
            Py_INCREF(context);
            h->context = context;
        }
    }
    PyObject_GC_Track(h);
    return h;
}

/* -- the core's queues ----------------------------------------------------------------- */

static int
entry_less(const Entry *a, const Entry *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static int
heap_push(CoreObject *self, double when, HandleObject *h)  /* steals h */
{
    if (self->heap_len == self->heap_cap) {
        Py_ssize_t cap = self->heap_cap ? 2 * self->heap_cap : 256;
        Entry *heap = PyMem_Realloc(self->heap, cap * sizeof(Entry));
        if (heap == NULL) {
            Py_DECREF(h);
            PyErr_NoMemory();
            return -1;
        }
        self->heap = heap;
        self->heap_cap = cap;
    }
    Entry e = {when, self->seq++, h};
    Py_ssize_t i = self->heap_len++;
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (!entry_less(&e, &self->heap[parent]))
            break;
        self->heap[i] = self->heap[parent];
        i = parent;
    }
    self->heap[i] = e;
    return 0;
}

static void
sift_down(Entry *heap, Py_ssize_t len, Py_ssize_t i)
{
    Entry e = heap[i];
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= len)
            break;
        if (child + 1 < len && entry_less(&heap[child + 1], &heap[child]))
            child++;
        if (!entry_less(&heap[child], &e))
            break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = e;
}

static HandleObject *
heap_pop(CoreObject *self)  /* a new reference to the earliest entry's handle */
{
    HandleObject *h = self->heap[0].h;
    self->heap_len--;
    if (self->heap_len > 0) {
        self->heap[0] = self->heap[self->heap_len];
        sift_down(self->heap, self->heap_len, 0);
    }
    return h;
}

static int
ready_push(CoreObject *self, HandleObject *h)  /* steals h */
{
    if (self->ready_len == self->ready_cap) {
        Py_ssize_t cap = self->ready_cap ? 2 * self->ready_cap : 256;
        HandleObject **ready = PyMem_Realloc(self->ready, cap * sizeof(HandleObject *));
        if (ready == NULL) {
            Py_DECREF(h);
            PyErr_NoMemory();
            return -1;
        }
        self->ready = ready;
        self->ready_cap = cap;
    }
    self->ready[self->ready_len++] = h;
    return 0;
}

/* -- scheduling -------------------------------------------------------------------------- */

static int
check_open(CoreObject *self)
{
    if (self->closed) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return 0;
}

/* The ``context=`` keyword of call_soon, call_later and call_at (NULL when not given). */
static int
context_kw(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **context)
{
    *context = NULL;
    if (kwnames == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "context") != 0) {
            PyErr_Format(PyExc_TypeError, "unexpected keyword argument %R", name);
            return -1;
        }
        *context = args[nargs + i];
    }
    return 0;
}

static PyObject *
Core_call_soon(CoreObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context;
    if (context_kw(args, nargs, kwnames, &context) < 0 || check_open(self) < 0)
        return NULL;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "call_soon() needs a callback");
        return NULL;
    }
    HandleObject *h = new_handle(args[0], args + 1, nargs - 1, context, 1);
    if (h == NULL)
        return NULL;
    Py_INCREF(h);
    if (ready_push(self, h) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return (PyObject *)h;
}

static PyObject *
schedule(CoreObject *self, double when, PyObject *const *args, Py_ssize_t nargs,
         PyObject *context, int timer)
{
    HandleObject *h = new_handle(args[0], args + 1, nargs - 1, context, timer);
    if (h == NULL)
        return NULL;
    h->when = when;
    h->scheduled = 1;
    if (timer) {
        Py_INCREF(self);
        h->core = self;
        Py_INCREF(h);
    }
    if (heap_push(self, when, h) < 0) {
        if (timer)
            Py_DECREF(h);
        return NULL;
    }
    if (timer)
        return (PyObject *)h;
    Py_RETURN_NONE;
}

static int
when_arg(PyObject *const *args, Py_ssize_t nargs, const char *what, double *value)
{
    if (nargs < 2) {
        PyErr_Format(PyExc_TypeError, "%s() needs a time and a callback", what);
        return -1;
    }
    *value = PyFloat_AsDouble(args[0]);
    if (*value == -1.0 && PyErr_Occurred())
        return -1;
    return 0;
}

static PyObject *
Core_call_later(CoreObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context;
    double delay;
    if (context_kw(args, nargs, kwnames, &context) < 0 || check_open(self) < 0 ||
            when_arg(args, nargs, "call_later", &delay) < 0)
        return NULL;
    return schedule(self, self->now + delay, args + 1, nargs - 1, context, 1);
}

static PyObject *
Core_call_at(CoreObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context;
    double when;
    if (context_kw(args, nargs, kwnames, &context) < 0 || check_open(self) < 0 ||
            when_arg(args, nargs, "call_at", &when) < 0)
        return NULL;
    return schedule(self, when, args + 1, nargs - 1, context, 1);
}

static PyObject *
Core_call_at_plain(CoreObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    double when;
    if (check_open(self) < 0 || when_arg(args, nargs, "call_at_plain", &when) < 0)
        return NULL;
    return schedule(self, when, args + 1, nargs - 1, NULL, 0);
}

static PyObject *
Core_time(CoreObject *self, PyObject *unused)
{
    return PyFloat_FromDouble(self->now);
}

/* -- one iteration --------------------------------------------------------------------- */

static void
sweep(CoreObject *self)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < self->heap_len; i++) {
        HandleObject *h = self->heap[i].h;
        if (h->cancelled) {
            h->scheduled = 0;
            Py_DECREF(h);
        } else {
            self->heap[kept++] = self->heap[i];
        }
    }
    self->heap_len = kept;
    for (Py_ssize_t i = kept / 2 - 1; i >= 0; i--)
        sift_down(self->heap, kept, i);
    self->cancelled = 0;
}

/* Report the exception being raised by h's callback to the loop's exception handler; -1 when
 * it must propagate instead (SystemExit, KeyboardInterrupt, a failing handler). */
static int
report(CoreObject *self, HandleObject *h)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
            PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
        return -1;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    PyObject *context = Py_BuildValue("{s:N,s:O,s:O}", "message",
                                      PyUnicode_FromFormat("Exception in callback %R",
                                                           h->callback ? h->callback : Py_None),
                                      "exception", value ? value : Py_None, "handle", h);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (context == NULL)
        return -1;
    PyObject *res = PyObject_CallOneArg(self->handler, context);
    Py_DECREF(context);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

static int
run(CoreObject *self, HandleObject *h)
{
    PyObject *res;
    /* The callback may cancel its own handle (clearing these): hold them while it runs. */
    PyObject *callback = h->callback, *args = h->args;
    if (callback == NULL)  /* cleared by the garbage collector */
        return 0;
    Py_INCREF(callback);
    Py_INCREF(args);
    if (h->context != NULL) {
        if (PyContext_Enter(h->context) < 0) {
            Py_DECREF(callback);
            Py_DECREF(args);
            return report(self, h);
        }
        res = PyObject_Call(callback, args, NULL);
        if (PyContext_Exit(h->context) < 0) {
            Py_XDECREF(res);
            res = NULL;
        }
    } else {
        res = PyObject_Call(callback, args, NULL);
    }
    Py_DECREF(callback);
    Py_DECREF(args);
    if (res == NULL)
        return report(self, h);
    Py_DECREF(res);
    return 0;
}

static PyObject *
Core_run_once(CoreObject *self, PyObject *unused)
{
    if (self->cancelled > MIN_CANCELLED && self->cancelled * 2 > self->heap_len)
        sweep(self);
    int stopping = 0;
    if (self->ready_len == 0) {
        PyObject *flag = PyDict_GetItemWithError(self->state, str_stopping);  /* borrowed */
        if (flag == NULL && PyErr_Occurred())
            return NULL;
        stopping = flag != NULL && PyObject_IsTrue(flag);
    }
    if (self->ready_len == 0 && !stopping) {
        while (self->heap_len > 0 && self->heap[0].h->cancelled) {
            HandleObject *h = heap_pop(self);
            h->scheduled = 0;
            self->cancelled--;
            Py_DECREF(h);
        }
        char message[200];
        if (self->heap_len == 0) {
            snprintf(message, sizeof message, "the simulation is stuck at t=%.6f s: no "
                     "callback is ready and no timer is pending", self->now);
            PyErr_SetString(self->deadlock, message);
            return NULL;
        }
        double when = self->heap[0].when;
        if (when > self->now) {  /* the clock never moves backward */
            if (when > self->limit) {
                snprintf(message, sizeof message, "the simulation passed its limit of %g s of "
                         "virtual time", self->limit);
                PyErr_SetString(self->time_limit, message);
                return NULL;
            }
            self->now = when;
        }
    }
    double due = self->now + RESOLUTION;
    while (self->heap_len > 0 && self->heap[0].when < due) {
        HandleObject *h = heap_pop(self);
        h->scheduled = 0;
        if (ready_push(self, h) < 0)
            return NULL;
    }
    /* Run what is ready now; what these callbacks schedule goes to the other buffer. */
    HandleObject **todo = self->ready;
    Py_ssize_t n = self->ready_len, cap = self->ready_cap;
    self->ready = self->spare;
    self->ready_cap = self->spare_cap;
    self->ready_len = 0;
    self->spare = NULL;
    self->spare_cap = 0;
    Py_ssize_t i = 0;
    int failed = 0;
    for (; i < n; i++) {
        HandleObject *h = todo[i];
        if (!h->cancelled && run(self, h) < 0) {
            failed = 1;
            Py_DECREF(h);
            i++;
            break;
        }
        Py_DECREF(h);
    }
    if (failed && i < n) {  /* the rest stays ready, ahead of what was scheduled meanwhile */
        Py_ssize_t rest = n - i, len = self->ready_len;
        if (len + rest > self->ready_cap) {
            HandleObject **ready = PyMem_Realloc(self->ready,
                                                 (len + rest) * sizeof(HandleObject *));
            if (ready == NULL) {
                for (; i < n; i++)
                    Py_DECREF(todo[i]);
                PyMem_Free(todo);
                return NULL;
            }
            self->ready = ready;
            self->ready_cap = len + rest;
        }
        memmove(self->ready + rest, self->ready, len * sizeof(HandleObject *));
        memcpy(self->ready, todo + i, rest * sizeof(HandleObject *));
        self->ready_len = len + rest;
    }
    self->spare = todo;  /* NULL since the swap: nothing else runs an iteration */
    self->spare_cap = cap;
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Core_timers(CoreObject *self, PyObject *unused)
{
    return PyLong_FromSsize_t(self->heap_len);
}

static void
drop_all(CoreObject *self)
{
    Py_ssize_t heap_len = self->heap_len, ready_len = self->ready_len;
    self->heap_len = self->ready_len = 0;
    self->cancelled = 0;
    for (Py_ssize_t i = 0; i < heap_len; i++) {
        self->heap[i].h->scheduled = 0;
        Py_DECREF(self->heap[i].h);
    }
    for (Py_ssize_t i = 0; i < ready_len; i++)
        Py_DECREF(self->ready[i]);
}

static PyObject *
Core_close(CoreObject *self, PyObject *unused)
{
    self->closed = 1;
    drop_all(self);
    Py_CLEAR(self->handler);
    Py_CLEAR(self->state);
    Py_RETURN_NONE;
}

/* -- the type ---------------------------------------------------------------------------- */

static int
Core_init(CoreObject *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"handler", "limit", "deadlock", "time_limit", "state", NULL};
    PyObject *handler, *deadlock, *time_limit, *state;
    double limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OdOOO!", names, &handler, &limit, &deadlock,
                                     &time_limit, &PyDict_Type, &state))
        return -1;
    Py_INCREF(state);
    Py_XSETREF(self->state, state);
    Py_INCREF(handler);
    Py_XSETREF(self->handler, handler);
    Py_INCREF(deadlock);
    Py_XSETREF(self->deadlock, deadlock);
    Py_INCREF(time_limit);
    Py_XSETREF(self->time_limit, time_limit);
    self->limit = limit;
    return 0;
}

static int
Core_traverse(CoreObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->handler);
    Py_VISIT(self->state);
    Py_VISIT(self->deadlock);
    Py_VISIT(self->time_limit);
    for (Py_ssize_t i = 0; i < self->heap_len; i++)
        Py_VISIT(self->heap[i].h);
    for (Py_ssize_t i = 0; i < self->ready_len; i++)
        Py_VISIT(self->ready[i]);
    return 0;
}

static int
Core_clear(CoreObject *self)
{
    drop_all(self);
    Py_CLEAR(self->handler);
    Py_CLEAR(self->state);
    Py_CLEAR(self->deadlock);
    Py_CLEAR(self->time_limit);
    return 0;
}

static void
Core_dealloc(CoreObject *self)
{
    PyObject_GC_UnTrack(self);
    Core_clear(self);
    PyMem_Free(self->heap);
    PyMem_Free(self->ready);
    PyMem_Free(self->spare);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Core_methods[] = {
    {"call_soon", (PyCFunction)(void (*)(void))Core_call_soon, METH_FASTCALL | METH_KEYWORDS,
     "call_soon(callback, *args, context=None): a handle run in the next iteration."},
    {"call_later", (PyCFunction)(void (*)(void))Core_call_later, METH_FASTCALL | METH_KEYWORDS,
     "call_later(delay, callback, *args, context=None): a timer handle."},
    {"call_at", (PyCFunction)(void (*)(void))Core_call_at, METH_FASTCALL | METH_KEYWORDS,
     "call_at(when, callback, *args, context=None): a timer handle."},
    {"call_at_plain", (PyCFunction)(void (*)(void))Core_call_at_plain, METH_FASTCALL,
     "call_at_plain(when, callback, *args): a timer without a handle or a context."},
    {"time", (PyCFunction)Core_time, METH_NOARGS, "The virtual time."},
    {"run_once", (PyCFunction)Core_run_once, METH_NOARGS, "One iteration (rule 2)."},
    {"timers", (PyCFunction)Core_timers, METH_NOARGS,
     "Timers and plain calls in the heap, cancelled ones included."},
    {"close", (PyCFunction)Core_close, METH_NOARGS,
     "Refuse new callbacks and drop every pending one."},
    {NULL}
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "splitbrain.sim._loop.Core",
    .tp_doc = "Core(handler, limit, deadlock, time_limit, state): the ready queue, timer heap "
              "and iteration of a VirtualLoop whose exception handler is handler and whose "
              "instance dict is state (see the module's rules).",
    .tp_basicsize = sizeof(CoreObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_clear,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_loop",
    "The compiled core of splitbrain.sim.loop.VirtualLoop (see the rules at the top of "
    "_loop.c).", -1, NULL
};

PyMODINIT_FUNC
PyInit__loop(void)
{
    if (PyType_Ready(&HandleType) < 0 || PyType_Ready(&CoreType) < 0)
        return NULL;
    str_stopping = PyUnicode_InternFromString("_stopping");
    if (str_stopping == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&HandleType);
    if (PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0) {
        Py_DECREF(&HandleType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
