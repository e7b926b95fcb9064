/*
 * _fnv_hash.h: the hash arithmetic of the _fnv accelerator (no Python glue beyond
 * reading str objects). GrowthBook FNV-1a 32 over UTF-16 code units; the second
 * pass of hash v2 over the decimal digits of the first. See _fnv.c for the contract.
 */
#ifndef UPSELL_AB_FNV_HASH_H
#define UPSELL_AB_FNV_HASH_H

#include <Python.h>
#include <stdint.h>

#define FNV_OFFSET 0x811C9DC5u
#define FNV_PRIME 0x01000193u
#define V2_BUCKETS 10000u
#define V1_BUCKETS 1000u
#define CODE_MISSING 253
#define CODE_NAMESPACE 254
#define FNV_STEP(h, c) ((h) = ((h) ^ (uint32_t)(c)) * FNV_PRIME)

/* ------------------------------------------------------------------ hashing */

/* FNV over the UTF-16 code units of `s`, into state *a (and *b when both). */
static inline void
fnv_unicode(PyObject *s, uint32_t *a, uint32_t *b, int both)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    uint32_t x = *a, y = *b;
    Py_ssize_t i;

    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *p = (const Py_UCS1 *)data;
        if (both) {
            for (i = 0; i < n; i++) { FNV_STEP(x, p[i]); FNV_STEP(y, p[i]); }
        } else {
            for (i = 0; i < n; i++) FNV_STEP(x, p[i]);
        }
    } else if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *p = (const Py_UCS2 *)data;
        if (both) {
            for (i = 0; i < n; i++) { FNV_STEP(x, p[i]); FNV_STEP(y, p[i]); }
        } else {
            for (i = 0; i < n; i++) FNV_STEP(x, p[i]);
        }
    } else {
        const Py_UCS4 *p = (const Py_UCS4 *)data;
        for (i = 0; i < n; i++) {
            Py_UCS4 c = p[i];
            if (c > 0xFFFF) {
                uint32_t hi = 0xD800u + ((c - 0x10000u) >> 10);
                uint32_t lo = 0xDC00u + ((c - 0x10000u) & 0x3FFu);
                FNV_STEP(x, hi);
                FNV_STEP(x, lo);
                if (both) { FNV_STEP(y, hi); FNV_STEP(y, lo); }
            } else {
                FNV_STEP(x, c);
                if (both) FNV_STEP(y, c);
            }
        }
    }
    *a = x;
    *b = y;
}

static inline void
fnv_bytes(const char *p, Py_ssize_t n, uint32_t *a, uint32_t *b, int both)
{
    uint32_t x = *a, y = *b;
    for (Py_ssize_t i = 0; i < n; i++) {
        FNV_STEP(x, (unsigned char)p[i]);
        if (both) FNV_STEP(y, (unsigned char)p[i]);
    }
    *a = x;
    *b = y;
}

/* fnv1a32 of the decimal string of v (the second pass of hash v2). Each digit is
 * v / 10^k % 10 with a constant divisor (a multiply), all independent of each
 * other, so only the FNV multiplications form a dependency chain. */
#define DIGIT(k) FNV_STEP(h, '0' + (v / (k)) % 10u)
static inline uint32_t
fnv_decimal(uint32_t v)
{
    uint32_t h = FNV_OFFSET;
    int n = v >= 100000u ? (v >= 10000000u ? (v >= 1000000000u ? 10 : v >= 100000000u ? 9 : 8)
                                           : (v >= 1000000u ? 7 : 6))
                         : (v >= 1000u ? (v >= 10000u ? 5 : 4) : (v >= 100u ? 3 : v >= 10u ? 2 : 1));
    switch (n) {
    case 10: DIGIT(1000000000u); /* fall through */
    case 9: DIGIT(100000000u); /* fall through */
    case 8: DIGIT(10000000u); /* fall through */
    case 7: DIGIT(1000000u); /* fall through */
    case 6: DIGIT(100000u); /* fall through */
    case 5: DIGIT(10000u); /* fall through */
    case 4: DIGIT(1000u); /* fall through */
    case 3: DIGIT(100u); /* fall through */
    case 2: DIGIT(10u); /* fall through */
    default: DIGIT(1u);
    }
    return h;
}
#undef DIGIT

/* Two ids at once: FNV is one long chain of dependent multiplications per id, so
 * running two independent chains in one loop lets the CPU overlap them (about
 * twice the throughput of one chain at a time; results are the same bits). */
static inline void
fnv_pair_ucs1(const Py_UCS1 *p, Py_ssize_t n, const Py_UCS1 *q, Py_ssize_t m, uint32_t *a,
              uint32_t *b)
{
    uint32_t x = *a, y = *b;
    Py_ssize_t k = n < m ? n : m, i;
    for (i = 0; i < k; i++) {
        FNV_STEP(x, p[i]);
        FNV_STEP(y, q[i]);
    }
    for (i = k; i < n; i++) FNV_STEP(x, p[i]);
    for (i = k; i < m; i++) FNV_STEP(y, q[i]);
    *a = x;
    *b = y;
}

/* All ten decimal digits of v (leading zeros included); returns the count without them. */
static inline int
decimal_digits(uint32_t v, unsigned char *d)
{
    d[0] = (unsigned char)(v / 1000000000u);
    d[1] = (unsigned char)(v / 100000000u % 10u);
    d[2] = (unsigned char)(v / 10000000u % 10u);
    d[3] = (unsigned char)(v / 1000000u % 10u);
    d[4] = (unsigned char)(v / 100000u % 10u);
    d[5] = (unsigned char)(v / 10000u % 10u);
    d[6] = (unsigned char)(v / 1000u % 10u);
    d[7] = (unsigned char)(v / 100u % 10u);
    d[8] = (unsigned char)(v / 10u % 10u);
    d[9] = (unsigned char)(v % 10u);
    return v >= 100000u ? (v >= 10000000u ? (v >= 1000000000u ? 10 : v >= 100000000u ? 9 : 8)
                                          : (v >= 1000000u ? 7 : 6))
                        : (v >= 1000u ? (v >= 10000u ? 5 : 4) : (v >= 100u ? 3 : v >= 10u ? 2 : 1));
}

/* fnv_decimal of two values, interleaved. */
static inline void
fnv_decimal_pair(uint32_t u, uint32_t v, uint32_t *hu, uint32_t *hv)
{
    unsigned char du[10], dv[10];
    int nu = decimal_digits(u, du), nv = decimal_digits(v, dv);
    const unsigned char *pu = du + 10 - nu, *pv = dv + 10 - nv;
    int k = nu < nv ? nu : nv, i;
    uint32_t x = FNV_OFFSET, y = FNV_OFFSET;
    for (i = 0; i < k; i++) {
        FNV_STEP(x, '0' + pu[i]);
        FNV_STEP(y, '0' + pv[i]);
    }
    for (i = k; i < nu; i++) FNV_STEP(x, '0' + pu[i]);
    for (i = k; i < nv; i++) FNV_STEP(y, '0' + pv[i]);
    *hu = x;
    *hv = y;
}

/* Decimal text of an integer into buf (>= 21 chars); returns the start. */
static char *
format_int(char *end, uint64_t magnitude, int negative)
{
    char *p = end;
    do {
        *--p = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude);
    if (negative) *--p = '-';
    return p;
}

#endif /* UPSELL_AB_FNV_HASH_H */
