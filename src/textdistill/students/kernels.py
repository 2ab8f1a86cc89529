"""Compiled kernels (numba) of the sequence students over ragged batches: no padding, no Python per time step.

BiLSTM: texts sorted by length, so at step t the texts still running are a prefix of the batch, and each step is
one small product [x_t, h_t-1] @ [W_ih; W_hh] per direction over just those rows (a padded step costs nothing),
computed in-kernel (faster than a BLAS call on these shapes), with a rational tanh the compiler vectorises. CNN: the
projection of every token is one matrix product over the batch's tokens concatenated (numpy, outside); each width's
taps are then added at their shifts within each text and max-pooled over the text's own windows. Scratch is per call and the GIL is released, so one student serves many threads at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


_CLAMP = np.float32(7.90531110763549805)
_A = [np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
                              -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)]
_B = [np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)]
A1, A3, A5, A7, A9, A11, A13 = _A
B0, B2, B4, B6 = _B


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _tanh(x):
    """tanh as a 13/6 rational function (the float32 approximation Eigen uses; max error 3.6e-7): plain arithmetic,
    so the compiler vectorises the gate loops, where a libm call per element would cost ~20 ns."""
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x
    q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0
    return p / q


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * _tanh(np.float32(0.5) * x)


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _cell(g, h, c, k, H):
    """LSTM gates (i, f, g, o: torch's order) of the first k rows of g -> new h, c in place."""
    for r in range(k):
        for j in range(H):
            i_ = _sigmoid(g[r, j])
            f_ = _sigmoid(g[r, H + j])
            cand = _tanh(g[r, 2 * H + j])
            o_ = _sigmoid(g[r, 3 * H + j])
            cn = f_ * c[r, j] + i_ * cand
            c[r, j] = cn
            h[r, j] = o_ * _tanh(cn)


@njit(cache=True, nogil=True, fastmath=True)
def matmul_into(a, w, out, k):
    """out[:k] = a[:k] @ w, four rows at a time (each row of w is read once per four outputs). On these shapes
    (tens of rows, a few hundred columns) it beats a BLAS call, and it never starts threads."""
    n = w.shape[1]
    r = 0
    for r0 in range(0, k - 3, 4):
        for j in range(n):
            out[r0, j] = 0.0
            out[r0 + 1, j] = 0.0
            out[r0 + 2, j] = 0.0
            out[r0 + 3, j] = 0.0
        for q in range(w.shape[0]):
            a0, a1, a2, a3 = a[r0, q], a[r0 + 1, q], a[r0 + 2, q], a[r0 + 3, q]
            for j in range(n):
                x = w[q, j]
                out[r0, j] += a0 * x
                out[r0 + 1, j] += a1 * x
                out[r0 + 2, j] += a2 * x
                out[r0 + 3, j] += a3 * x
        r = r0 + 4
    for rr in range(r, k):
        for j in range(n):
            out[rr, j] = 0.0
        for q in range(w.shape[0]):
            x = a[rr, q]
            for j in range(n):
                out[rr, j] += x * w[q, j]


@njit(cache=True, nogil=True)
def bilstm_encode(ids, starts, lengths, emb, w_f, b_f, w_b, b_b):
    """[last forward state, last backward state] of each text.

    ``w_f``/``w_b``: (E + H, 4H) = [W_ih; W_hh] transposed, so one product of [x_t, h_{t-1}] gives the gates;
    ``b_*``: both biases summed. Text i owns ids[starts[i] : starts[i] + lengths[i]] (every length >= 1).
    """
    B = len(lengths)
    E = emb.shape[1]
    H = w_f.shape[1] // 4
    order = np.argsort(-lengths, kind="mergesort")
    lens = lengths[order]
    first = starts[order]
    hf = np.zeros((B, H), dtype=np.float32)
    cf = np.zeros((B, H), dtype=np.float32)
    hb = np.zeros((B, H), dtype=np.float32)
    cb = np.zeros((B, H), dtype=np.float32)
    xh = np.empty((B, E + H), dtype=np.float32)
    g = np.empty((B, 4 * H), dtype=np.float32)
    longest = lens[0] if B else 0
    k = B
    for t in range(longest):
        while k > 0 and lens[k - 1] <= t:
            k -= 1
        for direction in range(2):
            h = hf if direction == 0 else hb
            c = cf if direction == 0 else cb
            for r in range(k):
                pos = first[r] + t if direction == 0 else first[r] + lens[r] - 1 - t
                row = ids[pos]
                for j in range(E):
                    xh[r, j] = emb[row, j]
                for j in range(H):
                    xh[r, E + j] = h[r, j]
            if direction == 0:
                matmul_into(xh, w_f, g, k)
                _add_bias(g, b_f, k)
            else:
                matmul_into(xh, w_b, g, k)
                _add_bias(g, b_b, k)
            _cell(g, h, c, k, H)
    out = np.empty((B, 2 * H), dtype=np.float32)
    for r in range(B):
        out[order[r], :H] = hf[r]
        out[order[r], H:] = hb[r]
    return out


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _add_bias(g, b, k):
    for r in range(k):
        for j in range(g.shape[1]):
            g[r, j] += b[j]


@njit(cache=True, nogil=True)
def cnn_encode(proj, starts, lengths, widths, col_offsets, biases):
    """Max over each text's windows of each filter width (then ReLU), widths concatenated.

    ``proj``: (tokens, sum_w w*F) token projections, tap k of width j in columns col_offsets[j] + k*F. A window may
    start anywhere it fits in the text; a text shorter than a width has one window, its missing taps zero (as a
    zero-padded text gives).
    """
    B = len(lengths)
    n_w = len(widths)
    F = biases.shape[1]
    out = np.zeros((B, n_w * F), dtype=np.float32)
    best = np.empty(F, dtype=np.float32)
    acc = np.empty(F, dtype=np.float32)
    for i in range(B):
        s0, L = starts[i], lengths[i]
        for j in range(n_w):
            w = widths[j]
            c0 = col_offsets[j]
            n_valid = max(L - w, 0) + 1
            for f in range(F):
                best[f] = -np.inf
            for s in range(n_valid):
                for f in range(F):
                    acc[f] = biases[j, f]
                for q in range(w):
                    if s + q >= L:
                        break
                    row = s0 + s + q
                    col = c0 + q * F
                    for f in range(F):
                        acc[f] += proj[row, col + f]
                for f in range(F):
                    if acc[f] > best[f]:
                        best[f] = acc[f]
            for f in range(F):
                out[i, j * F + f] = best[f] if best[f] > 0 else np.float32(0.0)
    return out
