/* A compiled copy of a simulated message: what a msgpack round trip (packed with
   use_bin_type=True, unpacked with raw=False, strict_map_key=False) gives back, without the
   bytes in between.

   copy(msg) -> object: dicts and lists are new objects (dicts keep their key order), tuples
   become lists, and None, bool, float, ASCII str, bytes and ints in [-2**63, 2**63) are
   returned as they are: they are immutable and the round trip gives an equal object of the
   same type.

   Anything else (a subclass of these types, a non-ASCII str, a larger int, a bytearray, any
   other type, a tuple as a dict key, nesting deeper than 512) raises ValueError: the caller
   then makes the message's copy with msgpack itself, which gives the result or the error. So
   this copy never has to reproduce msgpack's errors or its less common conversions. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MAX_DEPTH 512

static PyObject *copy(PyObject *o, int depth);

static PyObject *unsupported(void) {
    PyErr_SetString(PyExc_ValueError, "not a plain message value");
    return NULL;
}

static int immutable(PyObject *o) {
    if (o == Py_None || PyBool_Check(o) || PyFloat_CheckExact(o) || PyBytes_CheckExact(o))
        return 1;
    if (PyUnicode_CheckExact(o))
        return PyUnicode_IS_ASCII(o);
    if (PyLong_CheckExact(o)) {
        int overflow;
        PyLong_AsLongLongAndOverflow(o, &overflow);
        return overflow == 0;
    }
    return 0;
}

static PyObject *copy_items(PyObject *o, int depth) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = copy(items[i], depth + 1);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *copy_dict(PyObject *o, int depth) {
    PyObject *out = PyDict_New();
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    if (out == NULL)
        return NULL;
    while (PyDict_Next(o, &pos, &k, &v)) {
        PyObject *vc;
        if (!immutable(k)) {
            Py_DECREF(out);
            return unsupported();
        }
        vc = copy(v, depth + 1);
        if (vc == NULL || PyDict_SetItem(out, k, vc) < 0) {
            Py_XDECREF(vc);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(vc);
    }
    return out;
}

static PyObject *copy(PyObject *o, int depth) {
    if (depth > MAX_DEPTH)
        return unsupported();
    if (PyDict_CheckExact(o))
        return copy_dict(o, depth);
    if (PyList_CheckExact(o) || PyTuple_CheckExact(o))
        return copy_items(o, depth);
    if (immutable(o)) {
        Py_INCREF(o);
        return o;
    }
    return unsupported();
}

static PyObject *wire_copy(PyObject *self, PyObject *msg) {
    return copy(msg, 0);
}

static PyMethodDef methods[] = {
    {"copy", wire_copy, METH_O, "A message's copy as a msgpack round trip gives it back."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
