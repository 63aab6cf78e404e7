/*
 * mixq dense-ternary + sparse-int8 layers (intra-layer mixed precision), portable C99.
 *
 * Meaning (mixq.ir.interpret): acc[c] = dense_scale[c] * sum(x * T[c]) + sum(x * S[c]), then the
 * ICN rule y = clamp((acc * multiplier + bias) >> shift) (mixq_requantize_s32).
 *
 * Rows and positions: one row per output channel c; a row has K = taps * lanes positions,
 * k = tap * lanes + lane: conv / pw taps = k_h * k_w, lanes = in_c (OHWI); dw taps = k_h * k_w,
 * lanes = 1; fc taps = 1, lanes = in_h * in_w * in_c (HWC flattened).
 *
 * p->weight is one blob (4-byte aligned, little-endian, written by
 * mixq.codegen.sparse_formats.pack_portable_blob):
 *   header  16 uint32: [0] structure (0 unstructured, 1 row, 2 N:M, 3 block1x4), [1] taps,
 *           [2] lanes, [3] index field bytes (1, 2, 4; N:M: log2 M), [4] entries per row ('row')
 *           or N (N:M), [5] N:M form (1: per-group counts, 0: N fixed slots per group), [6] per-row
 *           count field bytes (1 or 2), [7] dense_scale bytes (1: uint8, 4: int32), [8..12]
 *           byte offsets of the sections below;
 *   dense   ternary codes, 2-bit two's complement, the reference layout of the op (conv / pw:
 *           (out_c, k_h, k_w) rows of in_c codes; dw: (k_h, k_w) rows of in_c codes; fc:
 *           (out_c, in_h * in_w) rows of in_c codes; each row padded to whole bytes);
 *   scale   dense_scale[out_c] (>= 0), uint8 or int32;
 *   counts  unstructured: entries per row; block1x4: blocks per row (uint8 when a row has at
 *           most 255 positions / blocks, else uint16); N:M counted:
 *           bitstream of bit_length(N)-bit counts per group; row and N:M fixed: empty;
 *   index   unstructured / row: position k per entry; block1x4: block b = tap * ceil(lanes / 4)
 *           + j per block (lanes 4j .. 4j + 3); N:M: bitstream of log2(M)-bit in-group indices
 *           per entry (groups: aligned runs of M lanes of one (row, tap), the last may be short);
 *   values  int8 per entry (block1x4: 4 per block; N:M fixed: N per group, 0 when empty).
 * Bitstreams are LSB-first; every section is 4-byte aligned. Index costs in bits per structure:
 * mixq.codegen.sparse_formats.index_bits.
 */
#ifndef MIXQ_SPARSE_H
#define MIXQ_SPARSE_H

#include "mixq_kernels.h"

enum {
    MIXQ_SPARSE_UNSTRUCTURED = 0,
    MIXQ_SPARSE_ROW = 1,
    MIXQ_SPARSE_NM = 2,
    MIXQ_SPARSE_BLOCK1X4 = 3
};

/* Convolution (any k_h x k_w incl. 1x1, stride, padding), dense ternary + sparse int8, any
 * input / output code width. No scratch. */
MIXQ_CONV_KERNEL(mixq_conv2d_sparse_any);

/* Depthwise convolution, dense ternary + sparse int8. No scratch. */
MIXQ_CONV_KERNEL(mixq_dwconv_sparse_any);

/* Depthwise convolution with u8 input codes (any output): expands the effective weights
 * k_c * T + S into scratch once per call (int32 (k_h * k_w, in_c)), then one multiply per
 * tap. Scratch: mixq_dwconv_sparse_u8_scratch_bytes(p) bytes, 4-byte aligned. */
int32_t mixq_dwconv_sparse_u8_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_dwconv_sparse_u8);

/* Fully connected over the HWC-flattened input, dense ternary + sparse int8. No scratch. */
MIXQ_CONV_KERNEL(mixq_fully_connected_sparse_any);

/* ---- blob reader, shared by the three kernels ---- */

typedef struct {
    int32_t structure, taps, lanes, width, param, counted, count_bytes, scale_bytes;
    const uint8_t *dense, *scale, *counts, *index;
    const int8_t *values;
} mixq_sparse_blob_t;

/* Where a row's entries start: the kernels walk the rows of one output pixel in order. */
typedef struct {
    int32_t entry;     /* next value (and index field for unstructured / row / N:M) */
    int32_t block;     /* next block (block1x4) */
    int32_t count_bit; /* next count bit (N:M counted) */
} mixq_sparse_cursor_t;

/* Input window of one output pixel: position k of a row reads channel (k % c_px) + channel0 of
 * the window pixel (k / c_px) = (ky, kx) = (t / k_w, t % k_w) at (iy0 + ky, ix0 + kx); zero
 * outside the input (padding). */
typedef struct {
    const uint8_t *input;
    int32_t in_h, in_w, px_bytes, bits, is_signed;
    int32_t iy0, ix0, k_w, c_px, channel0;
} mixq_sparse_window_t;

static inline uint32_t mixq_sparse_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint32_t mixq_sparse_uint(const uint8_t *b, int32_t i, int32_t bytes)
{
    const uint8_t *q = b + i * bytes;
    return bytes == 1 ? q[0] : (bytes == 2 ? (uint32_t)q[0] | (uint32_t)q[1] << 8
                                           : mixq_sparse_u32(q));
}

/* `n` bits (n <= 8) at bit `pos` of an LSB-first bitstream (one spare byte after it). */
static inline int32_t mixq_sparse_bits(const uint8_t *s, int32_t pos, int32_t n)
{
    const uint32_t two = (uint32_t)s[pos >> 3] | (uint32_t)s[(pos >> 3) + 1] << 8;
    return (int32_t)((two >> (pos & 7)) & ((1u << n) - 1u));
}

static inline void mixq_sparse_open(const uint8_t *weight, mixq_sparse_blob_t *s)
{
    s->structure = (int32_t)mixq_sparse_u32(weight);
    s->taps = (int32_t)mixq_sparse_u32(weight + 4);
    s->lanes = (int32_t)mixq_sparse_u32(weight + 8);
    s->width = (int32_t)mixq_sparse_u32(weight + 12);
    s->param = (int32_t)mixq_sparse_u32(weight + 16);
    s->counted = (int32_t)mixq_sparse_u32(weight + 20);
    s->count_bytes = (int32_t)mixq_sparse_u32(weight + 24);
    s->scale_bytes = (int32_t)mixq_sparse_u32(weight + 28);
    s->dense = weight + mixq_sparse_u32(weight + 32);
    s->scale = weight + mixq_sparse_u32(weight + 36);
    s->counts = weight + mixq_sparse_u32(weight + 40);
    s->index = weight + mixq_sparse_u32(weight + 44);
    s->values = (const int8_t *)(const void *)(weight + mixq_sparse_u32(weight + 48));
}

static inline int32_t mixq_sparse_scale(const mixq_sparse_blob_t *s, int32_t row)
{
    return (int32_t)mixq_sparse_uint(s->scale, row, s->scale_bytes);
}

static inline int32_t mixq_sparse_x(const mixq_sparse_window_t *w, int32_t k)
{
    const int32_t t = k / w->c_px;
    const int32_t ky = t / w->k_w;
    const int32_t iy = w->iy0 + ky, ix = w->ix0 + (t - ky * w->k_w);
    if (iy < 0 || iy >= w->in_h || ix < 0 || ix >= w->in_w) {
        return 0; /* zero padding */
    }
    return mixq_load_code(w->input + (iy * w->in_w + ix) * w->px_bytes,
                          w->channel0 + (k - t * w->c_px), w->bits, w->is_signed);
}

/* Visit the entries of the next row at the cursor (advancing it past the row): with dst NULL,
 * return sum(x * S[row]) over the window w; else store each value at dst[k * stride] (and
 * return 0). */
static inline int32_t mixq_sparse_row_apply(const mixq_sparse_blob_t *s,
                                            mixq_sparse_cursor_t *cur, int32_t row,
                                            const mixq_sparse_window_t *w, int32_t *dst,
                                            int32_t stride)
{
    int32_t acc = 0;
#define MIXQ_SPARSE_VISIT(k, v)                  \
    do {                                         \
        if (dst != NULL) {                       \
            dst[(k) * stride] = (v);             \
        } else {                                 \
            acc += mixq_sparse_x(w, (k)) * (v);  \
        }                                        \
    } while (0)
    if (s->structure == MIXQ_SPARSE_UNSTRUCTURED || s->structure == MIXQ_SPARSE_ROW) {
        const int32_t n = s->structure == MIXQ_SPARSE_ROW
                              ? s->param
                              : (int32_t)mixq_sparse_uint(s->counts, row, s->count_bytes);
        for (int32_t e = cur->entry; e < cur->entry + n; ++e) {
            MIXQ_SPARSE_VISIT((int32_t)mixq_sparse_uint(s->index, e, s->width), s->values[e]);
        }
        cur->entry += n;
    } else if (s->structure == MIXQ_SPARSE_NM) {
        const int32_t m = 1 << s->width;
        int32_t cbits = 0; /* bit_length(N) */
        for (int32_t v = s->param; v > 0; v >>= 1) {
            ++cbits;
        }
        const int32_t per_tap = (s->lanes + m - 1) / m;
        for (int32_t t = 0; t < s->taps; ++t) {
            for (int32_t g = 0; g < per_tap; ++g) {
                int32_t n = s->param;
                if (s->counted) {
                    n = mixq_sparse_bits(s->counts, cur->count_bit, cbits);
                    cur->count_bit += cbits;
                }
                for (int32_t q = 0; q < n; ++q, ++cur->entry) {
                    const int32_t i = mixq_sparse_bits(s->index, cur->entry * s->width, s->width);
                    MIXQ_SPARSE_VISIT(t * s->lanes + g * m + i, s->values[cur->entry]);
                }
            }
        }
    } else {
        const int32_t n = (int32_t)mixq_sparse_uint(s->counts, row, s->count_bytes);
        const int32_t per_tap = (s->lanes + 3) / 4;
        for (int32_t b = cur->block; b < cur->block + n; ++b) {
            const int32_t id = (int32_t)mixq_sparse_uint(s->index, b, s->width);
            const int32_t t = id / per_tap, lane = (id - t * per_tap) * 4;
            for (int32_t q = 0; q < 4 && lane + q < s->lanes; ++q) {
                MIXQ_SPARSE_VISIT(t * s->lanes + lane + q, s->values[4 * b + q]);
            }
        }
        cur->block += n;
    }
#undef MIXQ_SPARSE_VISIT
    return acc;
}

/* sum(x * S[row]) of the next row at the cursor; advances the cursor past the row. */
static inline int32_t mixq_sparse_row_dot(const mixq_sparse_blob_t *s, mixq_sparse_cursor_t *cur,
                                          int32_t row, const mixq_sparse_window_t *w)
{
    return mixq_sparse_row_apply(s, cur, row, w, NULL, 0);
}

/* The input window of layer p over `input`, at (0, 0), k_w pixels wide, c_px channels per
 * window pixel (in_c for conv / fully connected, 1 for depthwise), reading from channel 0. */
static inline mixq_sparse_window_t mixq_sparse_window(const mixq_conv_params_t *p,
                                                      const uint8_t *input, int32_t k_w,
                                                      int32_t c_px)
{
    mixq_sparse_window_t win = {input, p->in_h, p->in_w, mixq_row_bytes(p->in_c, p->in_bits),
                                p->in_bits, p->in_signed, 0, 0, k_w, c_px, 0};
    return win;
}

/* Output code c of a dense + sparse row: acc = k_c * dense + sum(x * S[c]) (advancing the
 * cursor past row c), requantized with channel c's constants into `out_pixel`. */
static inline void mixq_sparse_store_row(const mixq_conv_params_t *p, const mixq_sparse_blob_t *s,
                                         mixq_sparse_cursor_t *cur,
                                         const mixq_sparse_window_t *win, uint8_t *out_pixel,
                                         int32_t c, int32_t dense)
{
    mixq_store_requantized(p, out_pixel, c,
                           mixq_sparse_scale(s, c) * dense + mixq_sparse_row_dot(s, cur, c, win));
}

/* The dense-ternary + sparse-int8 convolution walk, regular (depthwise = 0) or depthwise
 * (depthwise = 1), any kernel size, stride and padding; dense ternary taps laid out as in
 * mixq_conv_walk_any with 2-bit codes. */
static inline void mixq_sparse_conv_walk(const mixq_conv_params_t *p, const uint8_t *input,
                                         uint8_t *output, int32_t depthwise)
{
    mixq_sparse_blob_t s;
    mixq_sparse_window_t win = mixq_sparse_window(p, input, p->k_w, depthwise ? 1 : p->in_c);
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    const int32_t filter_bytes = depthwise ? 0 : p->k_h * p->k_w * mixq_row_bytes(p->in_c, 2);
    mixq_sparse_open(p->weight, &s);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            mixq_sparse_cursor_t cur = {0, 0, 0};
            win.iy0 = oy * p->stride_h - p->pad_top;
            win.ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t dense = mixq_window_dot(p, input, s.dense + oc * filter_bytes, 2,
                                                      win.iy0, win.ix0, depthwise ? oc : -1);
                win.channel0 = depthwise ? oc : 0; /* a depthwise row reads its channel only */
                mixq_sparse_store_row(p, &s, &cur, &win, out_pixel, oc, dense);
            }
        }
    }
}

#endif /* MIXQ_SPARSE_H */
