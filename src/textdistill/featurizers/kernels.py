"""Compiled kernels (numba) of the version-2 n-gram featurizer and the DAN's pooling.

One pass over the UTF-8 bytes of a batch: decode code points, class them with the shipped table (``charclasses``),
hash each token as it is read (FNV-1a 64 over its UTF-8 bytes, then the murmur3 finaliser), roll n-gram hashes,
probe the vocabulary's open-addressing table, and add the embedding rows of the known n-grams. No Python runs per
text, token or n-gram; scratch buffers are allocated per call and the GIL is released, so one loaded model can be
used from many threads at once. Compiled code is cached on disk (numba ``cache=True``): only the first run in a
fresh environment compiles.

``ngrams.py`` has the numpy path, which gives exactly the same ids; it is used when numba is not installed (or
``TEXTDISTILL_KERNELS=numpy``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir as _ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .charclasses import IGNORE, MARK, PUNCT, SPACE, SPLIT, WORD

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
MULT = np.uint64(0x9E3779B97F4A7C15)  # rolling n-gram hash (same constant as the numpy path)
ORDER_SALT = np.uint64(0xD6E8FEB86659FD93)
FIB = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xFF51AFD7ED558CCD)
_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_NONE = 255  # "no token open"


_PREFETCH = "llvm.prefetch.p0" if _llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"  # opaque pointers


@intrinsic
def prefetch(typingctx, arr, index):
    """Ask the CPU to start loading ``arr[index]`` (2-D: row ``index``) now. A lookup in a large vocabulary is a cache
    miss; issuing all of a text's misses before using any of them overlaps their latencies (the kernel's main cost
    on tables bigger than the cache)."""
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        indices = [args[1]] + [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, indices, wraparound=False)
        i8p = _ir.IntType(8).as_pointer()
        i32 = _ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32]),
                                            _PREFETCH)
        builder.call(fn, [builder.bitcast(ptr, i8p), _ir.Constant(i32, 0), _ir.Constant(i32, 3), _ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def fmix64(h):
    h ^= h >> _S33
    h *= _C1
    h ^= h >> _S33
    h *= _C2
    h ^= h >> _S33
    return h


@njit(cache=True, nogil=True)
def tokenize_hashes(data, starts, classes):
    """Token hashes of every text, concatenated, and the token count of each text.

    ``data``: uint8 UTF-8 bytes of all texts; text ``i`` is ``data[starts[i]:starts[i + 1]]``.
    """
    n_texts = len(starts) - 1
    out = np.empty(len(data) + 1, dtype=np.uint64)  # a text of b bytes has at most b tokens
    counts = np.zeros(n_texts, dtype=np.int64)
    k = 0
    for t in range(n_texts):
        i, end = starts[t], starts[t + 1]
        state = np.int64(_NONE)
        h = FNV_OFFSET
        first = k
        while i < end:
            b0 = np.uint32(data[i])
            if b0 < 0x80:
                cp, width = b0, 1
            elif b0 < 0xE0:
                cp, width = ((b0 & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F), 2
            elif b0 < 0xF0:
                cp = ((b0 & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6) | (np.uint32(data[i + 2]) & 0x3F)
                width = 3
            else:
                cp = (((b0 & 0x07) << 18) | ((np.uint32(data[i + 1]) & 0x3F) << 12)
                      | ((np.uint32(data[i + 2]) & 0x3F) << 6) | (np.uint32(data[i + 3]) & 0x3F))
                width = 4
            c = classes[cp]
            if c == IGNORE:
                i += width
                continue
            if c == SPACE:
                if state != _NONE:
                    out[k] = fmix64(h)
                    k += 1
                    state = np.int64(_NONE)
                i += width
                continue
            if c == MARK:
                if state == _NONE:
                    state = np.int64(WORD)
                    h = FNV_OFFSET
            elif c == WORD or c == PUNCT:
                if state != c:
                    if state != _NONE:
                        out[k] = fmix64(h)
                        k += 1
                    state = np.int64(c)
                    h = FNV_OFFSET
            else:  # SPLIT: always a token of its own (its marks follow it)
                if state != _NONE:
                    out[k] = fmix64(h)
                    k += 1
                state = np.int64(SPLIT)
                h = FNV_OFFSET
            for j in range(width):
                h = (h ^ np.uint64(data[i + j])) * FNV_PRIME
            i += width
        if state != _NONE:
            out[k] = fmix64(h)
            k += 1
        counts[t] = k - first
    return out[:k], counts


@njit(cache=True, nogil=True, inline="always")
def _slot(h, shift):
    return np.int64((h * FIB) >> shift)


@njit(cache=True, nogil=True, inline="always")
def _probe_from(h, pos, index, mask):
    """Row of n-gram hash h, -1 if absent. ``index``: (slots, 2) uint64 = [key, row + 1], 0 = an empty slot: a probe
    reads one cache line."""
    while True:
        r = index[pos, 1]
        if r == 0:
            return -1
        if index[pos, 0] == h:
            return np.int64(r) - 1
        pos = (pos + 1) & mask


@njit(cache=True, nogil=True, inline="always")
def _probe(h, index, shift, mask):
    return _probe_from(h, _slot(h, shift), index, mask)


@njit(cache=True, nogil=True, inline="always")
def _ngram(th, a, n):
    """Hash of the n-gram of token hashes th[a : a + n] (the numpy path's rolling formula)."""
    g = th[a]
    for j in range(1, n):
        g = g * MULT + th[a + j]
    return g ^ (ORDER_SALT * np.uint64(n))


@njit(cache=True, nogil=True, inline="always")
def _n_ngrams(counts, min_n, max_n):
    total = 0
    for t in range(len(counts)):
        for n in range(min_n, max_n + 1):
            if counts[t] >= n:
                total += counts[t] - n + 1
    return total


@njit(cache=True, nogil=True)
def ngram_hashes(th, counts, min_n, max_n):
    """All n-gram hashes (min_n..max_n) of every text and the text index of each (for vocabulary counting)."""
    total = _n_ngrams(counts, min_n, max_n)
    out = np.empty(total, dtype=np.uint64)
    owner = np.empty(total, dtype=np.int64)
    k = 0
    base = 0
    for t in range(len(counts)):
        m = counts[t]
        for n in range(min_n, max_n + 1):
            for a in range(base, base + m - n + 1):
                out[k] = _ngram(th, a, n)
                owner[k] = t
                k += 1
        base += m
    return out, owner


@njit(cache=True, nogil=True)
def ngram_rows(th, counts, min_n, max_n, index, shift, buckets, vocab_size):
    """Table rows of the known n-grams of every text (unknown ones dropped, or hashed into ``buckets`` extra rows)
    and each text's start offset: an EmbeddingBag's input."""
    mask = np.int64(index.shape[0] - 1)
    total = _n_ngrams(counts, min_n, max_n)
    out = np.empty(total, dtype=np.int64)
    offsets = np.empty(len(counts), dtype=np.int64)
    k = 0
    base = 0
    nb = np.uint64(buckets)
    for t in range(len(counts)):
        offsets[t] = k
        m = counts[t]
        for n in range(min_n, max_n + 1):
            for a in range(base, base + m - n + 1):
                g = _ngram(th, a, n)
                r = _probe(g, index, shift, mask)
                if r >= 0:
                    out[k] = r
                    k += 1
                elif buckets > 0:
                    out[k] = vocab_size + np.int64(g % nb)
                    k += 1
        base += m
    return out[:k], offsets


# -- pooling: the mean of a text's embedding rows, for each storage type of the table -------------------------------
def add_row(acc, table, r, scales, lut):  # pragma: no cover - replaced by the overload when compiled
    raise NotImplementedError


@overload(add_row, inline="always")
def _add_row(acc, table, r, scales, lut):
    if table.dtype == types.float32:
        def impl(acc, table, r, scales, lut):
            for j in range(acc.shape[0]):
                acc[j] += table[r, j]
        return impl
    if table.dtype == types.uint16:  # float16 bits: converted through a 65,536-entry table
        def impl(acc, table, r, scales, lut):
            for j in range(acc.shape[0]):
                acc[j] += lut[table[r, j]]
        return impl
    if table.dtype == types.int8:  # int8 with one scale per row
        def impl(acc, table, r, scales, lut):
            s = scales[r]
            for j in range(acc.shape[0]):
                acc[j] += s * np.float32(table[r, j])
        return impl
    return None


@njit(cache=True, nogil=True, inline="always")
def _prefetch_row(table, r, line):
    """Every cache line of table row r (``line`` elements each)."""
    for j in range(0, table.shape[1], line):
        prefetch(table[r], j)


@njit(cache=True, nogil=True)
def pool_rows(rows, offsets, table, scales, lut):
    """Mean of each text's rows (``rows[offsets[i]:offsets[i+1]]``); zeros for a text with none."""
    n = len(offsets)
    dim = table.shape[1]
    line = max(1, 64 // table.itemsize)
    out = np.zeros((n, dim), dtype=np.float32)
    acc = np.empty(dim, dtype=np.float32)
    for t in range(n):
        lo = offsets[t]
        hi = offsets[t + 1] if t + 1 < n else len(rows)
        if hi == lo:
            continue
        for k in range(lo, hi):  # all of the text's rows in flight first
            _prefetch_row(table, rows[k], line)
        acc[:] = 0.0
        for k in range(lo, hi):
            add_row(acc, table, rows[k], scales, lut)
        inv = np.float32(1.0) / np.float32(hi - lo)
        for j in range(dim):
            out[t, j] = acc[j] * inv
    return out


@njit(cache=True, nogil=True)
def pool_texts(data, starts, classes, min_n, max_n, index, shift, buckets, vocab_size, table, scales, lut):
    """Text bytes -> mean embedding of each text's known n-grams, in one pass (and the n-gram count of each).

    Per text: hash every n-gram and prefetch its index slot; probe; prefetch the rows found; add them. The misses
    of a text are in flight together rather than one after another.
    """
    th, counts = tokenize_hashes(data, starts, classes)
    n_texts = len(counts)
    dim = table.shape[1]
    line = max(1, 64 // table.itemsize)
    out = np.zeros((n_texts, dim), dtype=np.float32)
    found = np.zeros(n_texts, dtype=np.int64)
    acc = np.empty(dim, dtype=np.float32)
    mask = np.int64(index.shape[0] - 1)
    nb = np.uint64(buckets)
    longest = np.max(counts) if n_texts else 0
    cap = max(1, (max_n - min_n + 1) * longest)
    hashes = np.empty(cap, dtype=np.uint64)
    slots = np.empty(cap, dtype=np.int64)
    hits = np.empty(cap, dtype=np.int64)
    base = 0
    for t in range(n_texts):
        m = counts[t]
        ng = 0
        for n in range(min_n, max_n + 1):
            for a in range(base, base + m - n + 1):
                g = _ngram(th, a, n)
                pos = _slot(g, shift)
                prefetch(index, pos)
                hashes[ng] = g
                slots[ng] = pos
                ng += 1
        base += m
        nh = 0
        for q in range(ng):
            r = _probe_from(hashes[q], slots[q], index, mask)
            if r < 0:
                if buckets == 0:
                    continue
                r = vocab_size + np.int64(hashes[q] % nb)
            _prefetch_row(table, r, line)
            hits[nh] = r
            nh += 1
        found[t] = nh
        if nh == 0:
            continue
        acc[:] = 0.0
        for k in range(nh):
            add_row(acc, table, hits[k], scales, lut)
        inv = np.float32(1.0) / np.float32(nh)
        for j in range(dim):
            out[t, j] = acc[j] * inv
    return out, found


@njit(cache=True, nogil=True)
def folded_head(pooled, b1, w2, b2):
    """logits = W2 . ReLU(pooled + b1) + b2, where pooled already holds the first layer (folded into the table)."""
    n, hidden = pooled.shape
    classes = w2.shape[0]
    out = np.empty((n, classes), dtype=np.float32)
    z = np.empty(hidden, dtype=np.float32)
    for t in range(n):
        for j in range(hidden):
            v = pooled[t, j] + b1[j]
            z[j] = v if v > 0 else np.float32(0.0)
        for c in range(classes):
            s = b2[c]
            for j in range(hidden):
                s += w2[c, j] * z[j]
            out[t, c] = s
    return out


@njit(cache=True, nogil=True)
def predict_folded(data, starts, classes, min_n, max_n, index, shift, buckets, vocab_size, table, scales, lut, b1,
                   w2, b2):
    """Text bytes -> logits of a DAN whose first layer is folded into its table, and each text's known n-gram count:
    ``pool_texts`` and ``folded_head`` in one call (what a request of a few texts pays once, not twice)."""
    pooled, found = pool_texts(data, starts, classes, min_n, max_n, index, shift, buckets, vocab_size, table, scales,
                               lut)
    return folded_head(pooled, b1, w2, b2), found


@njit(cache=True, nogil=True)
def build_index(keys_in, rows_in, bits):
    """The lookup table: (2**bits, 2) uint64 of [key, row + 1] (0 = empty), linear probing; and how many keys were
    already in it (a duplicate keeps its first row)."""
    size = np.int64(1) << bits
    mask = size - 1
    shift = np.uint64(64 - bits)
    index = np.zeros((size, 2), dtype=np.uint64)
    duplicates = 0
    for i in range(len(keys_in)):
        h = keys_in[i]
        pos = np.int64((h * FIB) >> shift)
        while index[pos, 1] != 0 and index[pos, 0] != h:
            pos = (pos + 1) & mask
        if index[pos, 1] != 0:
            duplicates += 1
            continue
        index[pos, 0] = h
        index[pos, 1] = np.uint64(rows_in[i] + 1)
    return index, duplicates
