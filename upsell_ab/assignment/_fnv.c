/*
 * _fnv: optional C accelerator for GrowthBook's FNV-1a hash (upsell_ab.assignment).
 *
 * Bit-identical to the pure-Python reference in hashing.py / hashing_bulk.py
 * (which stays the fallback when this module is not built):
 *
 *   FNV-1a 32:  h = 0x811C9DC5;  h = (h ^ c) * 0x01000193 mod 2^32 per UTF-16 code unit c
 *               (JavaScript charCodeAt; characters above U+FFFF as surrogate pairs)
 *   v2 bucket:  fnv1a32(str(fnv1a32(seed + id))) % 10000      (assignment)
 *   v1 bucket:  fnv1a32(id + seed) % 1000                      (namespaces, seed "__" + name)
 *
 * Python strings are read in place (PyUnicode_DATA, kind 1/2/4): no encoding,
 * no intermediate buffer. Integer ids hash as their decimal string (JS String(n)).
 *
 * Exposed:
 *   bucket_v2(state, unit) -> int      state = fnv1a32(seed)
 *   bucket_v1(seed, unit) -> int
 *   Picker(state, items)(unit) -> items[bucket_v2(state, unit)]   (len(items) == 10000)
 *   assign_codes(ids, state, table, suffix, ns_table, overrides, out) -> (rows, values)
 *       one outcome code per id into the uint8 buffer `out`: table[v2 bucket]
 *       (variant index, or 255 = outside the coverage ranges), CODE_NAMESPACE when
 *       ns_table[v1 bucket] == 0, CODE_MISSING for "", None, NaN. `rows`/`values`:
 *       positions whose id (as str) is a key of the dict `overrides`, and its value.
 *       ids: list, tuple, or a C-contiguous 1-d buffer of objects ('O'), int64 or uint64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "_fnv_hash.h"

/* --------------------------------------------------------------- scalar API */

static int
read_state(PyObject *obj, uint32_t *state)
{
    unsigned long long v = PyLong_AsUnsignedLongLongMask(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *state = (uint32_t)v;
    return 0;
}

/* Strings made by legacy C APIs may need PyUnicode_READY before their data is read
 * (Python < 3.12; a no-op afterwards). */
#if PY_VERSION_HEX < 0x030C0000
#define ENSURE_READY(o) PyUnicode_READY(o)
#else
#define ENSURE_READY(o) 0
#endif

static int
need_str(PyObject *obj, const char *what)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return ENSURE_READY(obj);
}

static PyObject *
bucket_v2(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    uint32_t state, unused = 0;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "bucket_v2(state, unit) takes 2 arguments");
        return NULL;
    }
    if (read_state(args[0], &state) < 0 || need_str(args[1], "unit") < 0) return NULL;
    fnv_unicode(args[1], &state, &unused, 0);
    return PyLong_FromUnsignedLong(fnv_decimal(state) % V2_BUCKETS);
}

static PyObject *
bucket_v1(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    uint32_t state = FNV_OFFSET, unused = 0;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "bucket_v1(seed, unit) takes 2 arguments");
        return NULL;
    }
    if (need_str(args[0], "seed") < 0 || need_str(args[1], "unit") < 0) return NULL;
    fnv_unicode(args[1], &state, &unused, 0);
    fnv_unicode(args[0], &state, &unused, 0);
    return PyLong_FromUnsignedLong(state % V1_BUCKETS);
}

/* ------------------------------------------------------------------- Picker */

typedef struct {
    PyObject_HEAD
    uint32_t state;
    PyObject *items; /* tuple of V2_BUCKETS objects */
    vectorcallfunc vectorcall;
} Picker;

static PyObject *
picker_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Picker *self = (Picker *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    uint32_t h, unused = 0;
    PyObject *item;
    if (nargs != 1 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Picker(unit) takes exactly one positional argument");
        return NULL;
    }
    if (need_str(args[0], "unit") < 0) return NULL;
    h = self->state;
    fnv_unicode(args[0], &h, &unused, 0);
    item = PyTuple_GET_ITEM(self->items, fnv_decimal(h) % V2_BUCKETS);
    Py_INCREF(item);
    return item;
}

static PyObject *
picker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *state_obj, *items;
    Picker *self;
    uint32_t state;
    if (!PyArg_ParseTuple(args, "OO!:Picker", &state_obj, &PyTuple_Type, &items)) return NULL;
    if (read_state(state_obj, &state) < 0) return NULL;
    if (PyTuple_GET_SIZE(items) != V2_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "Picker needs a tuple of 10000 items");
        return NULL;
    }
    self = (Picker *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->state = state;
    Py_INCREF(items);
    self->items = items;
    self->vectorcall = picker_vectorcall;
    return (PyObject *)self;
}

static int
picker_traverse(Picker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->items);
    return 0;
}

static int
picker_clear(Picker *self)
{
    Py_CLEAR(self->items);
    return 0;
}

static void
picker_dealloc(Picker *self)
{
    PyObject_GC_UnTrack(self);
    picker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject PickerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "upsell_ab.assignment._fnv.Picker",
    .tp_doc = "Picker(state, items)(unit) -> items[fnv1a32(str(fnv1a32(unit, state))) % 10000]",
    .tp_basicsize = sizeof(Picker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = picker_new,
    .tp_dealloc = (destructor)picker_dealloc,
    .tp_traverse = (traverseproc)picker_traverse,
    .tp_clear = (inquiry)picker_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Picker, vectorcall),
};

/* ----------------------------------------------------------------- bulk API */

typedef struct {
    uint32_t state;            /* fnv1a32(seed) */
    const uint8_t *table;      /* V2_BUCKETS outcome codes */
    const uint8_t *ns_table;   /* V1_BUCKETS flags, or NULL: no namespace */
    PyObject *suffix;          /* namespace seed (str) when ns_table */
    PyObject *overrides;       /* dict or NULL */
    PyObject *empty;           /* "" */
    PyObject *rows;            /* list */
    PyObject *values;          /* list */
} Ctx;

static inline uint8_t
finish(const Ctx *c, uint32_t v2, uint32_t v1)
{
    if (c->ns_table) {
        uint32_t unused = 0;
        fnv_unicode(c->suffix, &v1, &unused, 0);
        if (!c->ns_table[v1 % V1_BUCKETS]) return CODE_NAMESPACE;
    }
    return c->table[fnv_decimal(v2) % V2_BUCKETS];
}

static int
record_override(Ctx *c, PyObject *key, Py_ssize_t row)
{
    PyObject *value = PyDict_GetItemWithError(c->overrides, key);
    PyObject *index;
    if (value == NULL) return PyErr_Occurred() ? -1 : 0;
    index = PyLong_FromSsize_t(row);
    if (index == NULL) return -1;
    if (PyList_Append(c->rows, index) < 0 || PyList_Append(c->values, value) < 0) {
        Py_DECREF(index);
        return -1;
    }
    Py_DECREF(index);
    return 0;
}

static int
one_int(Ctx *c, uint64_t magnitude, int negative, Py_ssize_t row, uint8_t *out)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *start = format_int(end, magnitude, negative);
    uint32_t v2 = c->state, v1 = FNV_OFFSET;
    fnv_bytes(start, end - start, &v2, &v1, c->ns_table != NULL);
    *out = finish(c, v2, v1);
    if (c->overrides) {
        PyObject *key = PyUnicode_FromStringAndSize(start, end - start);
        int rc;
        if (key == NULL) return -1;
        rc = record_override(c, key, row);
        Py_DECREF(key);
        return rc;
    }
    return 0;
}

static int one_other(Ctx *c, PyObject *o, Py_ssize_t row, uint8_t *out);
static int one_other_held(Ctx *c, PyObject *o, Py_ssize_t row, uint8_t *out);

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif
#define AHEAD 8 /* ids prefetched ahead: hides the cache miss on each str object */

/* The rules of the Python fallback (_as_strings): str; None, NaN and objects
 * equal to "" are missing; int (not bool) hashes as str(int); else TypeError. */
static int
one_object(Ctx *c, PyObject *o, Py_ssize_t row, uint8_t *out)
{
    if (PyUnicode_Check(o)) {
        if (ENSURE_READY(o) < 0) return -1;
        if (PyUnicode_GET_LENGTH(o) == 0) {
            *out = CODE_MISSING;
        } else {
            uint32_t v2 = c->state, v1 = FNV_OFFSET;
            fnv_unicode(o, &v2, &v1, c->ns_table != NULL);
            *out = finish(c, v2, v1);
        }
        return c->overrides ? record_override(c, o, row) : 0;
    }
    return one_other(c, o, row, out);
}

/* Not a str: may run Python code (str(), ==), so hold a reference meanwhile. */
static int
one_other(Ctx *c, PyObject *o, Py_ssize_t row, uint8_t *out)
{
    int rc;
    Py_INCREF(o);
    rc = one_other_held(c, o, row, out);
    Py_DECREF(o);
    return rc;
}

static int
one_other_held(Ctx *c, PyObject *o, Py_ssize_t row, uint8_t *out)
{
    if (o == Py_None || (PyFloat_Check(o) && isnan(PyFloat_AS_DOUBLE(o)))) {
        *out = CODE_MISSING;
        return c->overrides ? record_override(c, c->empty, row) : 0;
    }
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        int overflow = 0;
        long long v = PyLong_CheckExact(o) ? PyLong_AsLongLongAndOverflow(o, &overflow) : 0;
        PyObject *text;
        int rc;
        if (v == -1 && PyErr_Occurred()) return -1;
        if (PyLong_CheckExact(o) && !overflow) {
            uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            return one_int(c, magnitude, v < 0, row, out);
        }
        text = PyObject_Str(o);
        if (text == NULL) return -1;
        rc = one_object(c, text, row, out);
        Py_DECREF(text);
        return rc;
    }
    {
        int equal = PyObject_RichCompareBool(o, c->empty, Py_EQ);
        if (equal < 0) return -1;
        if (equal) {
            *out = CODE_MISSING;
            return c->overrides ? record_override(c, c->empty, row) : 0;
        }
    }
    PyErr_Format(PyExc_TypeError, "unit ids must be strings or integers, got %R", o);
    return -1;
}

#if PY_VERSION_HEX < 0x030C0000
#define IS_READY(o) PyUnicode_IS_READY(o)
#else
#define IS_READY(o) 1
#endif
/* An exact, non-empty str of one byte per character: eligible for the pair path. */
#define PAIRABLE(o)                                                                  \
    (PyUnicode_CheckExact(o) && IS_READY(o) && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND && \
     PyUnicode_GET_LENGTH(o) > 0)

/* Outcome of ids a (and b, when not NULL) at rows row, row + 1; returns how many
 * ids it consumed (1 or 2), or -1 on error. */
static int
step(Ctx *c, PyObject *a, PyObject *b, Py_ssize_t row, uint8_t *out)
{
    uint32_t x = c->state, y = c->state;
    if (b == NULL || c->ns_table != NULL || !PAIRABLE(a) || !PAIRABLE(b))
        return one_object(c, a, row, out) < 0 ? -1 : 1;
    fnv_pair_ucs1(PyUnicode_1BYTE_DATA(a), PyUnicode_GET_LENGTH(a), PyUnicode_1BYTE_DATA(b),
                  PyUnicode_GET_LENGTH(b), &x, &y);
    fnv_decimal_pair(x, y, &x, &y);
    out[0] = c->table[x % V2_BUCKETS];
    out[1] = c->table[y % V2_BUCKETS];
    if (c->overrides && (record_override(c, a, row) < 0 || record_override(c, b, row + 1) < 0))
        return -1;
    return 2;
}

static char
buffer_kind(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    while (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!') {
        if ((*f == '>' || *f == '!') && PY_LITTLE_ENDIAN) return 0;
        if (*f == '<' && !PY_LITTLE_ENDIAN) return 0;
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') return 0;
    if (*f == 'O' && view->itemsize == sizeof(PyObject *)) return 'O';
    if ((*f == 'q' || *f == 'l') && view->itemsize == 8) return 'i';
    if ((*f == 'Q' || *f == 'L') && view->itemsize == 8) return 'u';
    return 0;
}

static PyObject *
assign_codes(PyObject *module, PyObject *args)
{
    PyObject *ids, *suffix, *ns_obj, *overrides, *result = NULL;
    unsigned long state;
    Py_buffer table = {0}, out = {0}, ns = {0}, view = {0};
    Ctx c = {0};
    Py_ssize_t n, i;
    uint8_t *codes;

    if (!PyArg_ParseTuple(args, "Oky*OOOw*:assign_codes", &ids, &state, &table, &suffix, &ns_obj,
                          &overrides, &out))
        return NULL;
    c.state = (uint32_t)state;
    c.table = (const uint8_t *)table.buf;
    c.empty = PyUnicode_FromStringAndSize("", 0);
    c.rows = PyList_New(0);
    c.values = PyList_New(0);
    if (c.empty == NULL || c.rows == NULL || c.values == NULL) goto done;
    if (table.len != V2_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "table must hold 10000 bytes");
        goto done;
    }
    if (ns_obj != Py_None) {
        if (need_str(suffix, "suffix") < 0) goto done;
        if (PyObject_GetBuffer(ns_obj, &ns, PyBUF_SIMPLE) < 0) goto done;
        if (ns.len != V1_BUCKETS) {
            PyErr_SetString(PyExc_ValueError, "ns_table must hold 1000 bytes");
            goto done;
        }
        c.ns_table = (const uint8_t *)ns.buf;
        c.suffix = suffix;
    }
    if (overrides != Py_None) {
        if (!PyDict_Check(overrides)) {
            PyErr_SetString(PyExc_TypeError, "overrides must be a dict or None");
            goto done;
        }
        if (PyDict_GET_SIZE(overrides)) c.overrides = overrides;
    }
    codes = (uint8_t *)out.buf;

    if (PyList_CheckExact(ids) || PyTuple_CheckExact(ids)) {
        /* Items are re-read every step: str() of an int subclass may run Python code. */
        n = PySequence_Fast_GET_SIZE(ids);
        if (out.len != n) {
            PyErr_SetString(PyExc_ValueError, "out must hold one byte per id");
            goto done;
        }
        for (i = 0; i < n && i < PySequence_Fast_GET_SIZE(ids);) {
            Py_ssize_t size = PySequence_Fast_GET_SIZE(ids);
            PyObject *b = i + 1 < n && i + 1 < size ? PySequence_Fast_GET_ITEM(ids, i + 1) : NULL;
            int used;
            if (i + AHEAD < size) PREFETCH(PySequence_Fast_GET_ITEM(ids, i + AHEAD));
            if (i + AHEAD + 1 < size) PREFETCH(PySequence_Fast_GET_ITEM(ids, i + AHEAD + 1));
            used = step(&c, PySequence_Fast_GET_ITEM(ids, i), b, i, codes + i);
            if (used < 0) goto done;
            i += used;
        }
        if (i != n) {
            PyErr_SetString(PyExc_RuntimeError, "ids changed size during assignment");
            goto done;
        }
    } else {
        char kind;
        if (PyObject_GetBuffer(ids, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) goto done;
        kind = buffer_kind(&view);
        if (view.ndim != 1 || kind == 0) {
            PyErr_SetString(PyExc_TypeError,
                            "ids must be a list, a tuple or a 1-d object/int64/uint64 array");
            goto done;
        }
        n = view.shape[0];
        if (out.len != n) {
            PyErr_SetString(PyExc_ValueError, "out must hold one byte per id");
            goto done;
        }
        if (kind == 'O') {
            PyObject **items = (PyObject **)view.buf;
            for (i = 0; i < n;) {
                int used;
                if (i + AHEAD < n) PREFETCH(items[i + AHEAD]);
                if (i + AHEAD + 1 < n) PREFETCH(items[i + AHEAD + 1]);
                used = step(&c, items[i], i + 1 < n ? items[i + 1] : NULL, i, codes + i);
                if (used < 0) goto done;
                i += used;
            }
        } else if (kind == 'i') {
            const int64_t *items = (const int64_t *)view.buf;
            for (i = 0; i < n; i++) {
                int64_t v = items[i];
                uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
                if (one_int(&c, magnitude, v < 0, i, codes + i) < 0) goto done;
            }
        } else {
            const uint64_t *items = (const uint64_t *)view.buf;
            for (i = 0; i < n; i++)
                if (one_int(&c, items[i], 0, i, codes + i) < 0) goto done;
        }
    }
    result = PyTuple_Pack(2, c.rows, c.values);

done:
    if (view.obj) PyBuffer_Release(&view);
    if (ns.obj) PyBuffer_Release(&ns);
    PyBuffer_Release(&table);
    PyBuffer_Release(&out);
    Py_XDECREF(c.empty);
    Py_XDECREF(c.rows);
    Py_XDECREF(c.values);
    return result;
}

/* ------------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"bucket_v2", (PyCFunction)(void (*)(void))bucket_v2, METH_FASTCALL,
     "bucket_v2(state, unit) -> fnv1a32(str(fnv1a32(unit, state))) % 10000"},
    {"bucket_v1", (PyCFunction)(void (*)(void))bucket_v1, METH_FASTCALL,
     "bucket_v1(seed, unit) -> fnv1a32(unit + seed) % 1000"},
    {"assign_codes", assign_codes, METH_VARARGS,
     "assign_codes(ids, state, table, suffix, ns_table, overrides, out) -> (rows, values)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fnv", "GrowthBook FNV-1a hashing in C (optional accelerator).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__fnv(void)
{
    PyObject *m;
    if (PyType_Ready(&PickerType) < 0) return NULL;
    m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Py_INCREF(&PickerType);
    if (PyModule_AddObject(m, "Picker", (PyObject *)&PickerType) < 0 ||
        PyModule_AddIntConstant(m, "CODE_MISSING", CODE_MISSING) < 0 ||
        PyModule_AddIntConstant(m, "CODE_NAMESPACE", CODE_NAMESPACE) < 0) {
        Py_DECREF(&PickerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
