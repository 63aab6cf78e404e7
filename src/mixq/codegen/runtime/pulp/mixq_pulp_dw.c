/* PULP depthwise convolution: per-channel planes and 4-tap XpulpV2 dot products (mixq_pulp.h). */
#include "mixq_pulp.h"

/* Words of one window row (4 taps per word) and the plane's row stride in bytes: a word
 * multiple that holds every window's last word, so no read leaves the row's slot. */
static int32_t dw_row_words(const mixq_conv_params_t *p)
{
    return (p->k_w + 3) / 4;
}

static int32_t dw_stride(const mixq_conv_params_t *p)
{
    return ((p->out_w - 1) * p->stride_w + 4 * dw_row_words(p) + 3) / 4 * 4;
}

/* Plane rows the output rows [r_lo, r_lo + n) read. */
static int32_t dw_rows(const mixq_conv_params_t *p, int32_t n)
{
    return (n - 1) * p->stride_h + p->k_h;
}

/* One core's scratch: the plane of every output row, then the channel's weight rows. */
static int32_t dw_core_bytes(const mixq_conv_params_t *p)
{
    return dw_rows(p, p->out_h) * dw_stride(p) + 4 * p->k_h * dw_row_words(p);
}

int32_t mixq_pulp_dw_scratch_bytes(const mixq_conv_params_t *p)
{
    return MIXQ_PULP_CORES * dw_core_bytes(p);
}

/* Core `core`'s channels [c[0], c[1]) and output rows [r[0], r[1]): blocks of 4 channels (whole
 * bytes of any output width, so no two cores write one byte) in contiguous chunks, or the
 * output rows when that balances the cores better (fewer channel blocks than cores). */
static void dw_share(const mixq_conv_params_t *p, int32_t core, int32_t *c, int32_t *r)
{
    const int32_t cores = MIXQ_PULP_CORES, blocks = (p->out_c + 3) / 4;
    const int32_t by_channels = (blocks + cores - 1) / cores * 4 * p->out_h;
    const int32_t by_rows = p->out_c * ((p->out_h + cores - 1) / cores);
    c[0] = 0, c[1] = p->out_c, r[0] = 0, r[1] = p->out_h;
    if (by_channels <= by_rows) {
        mixq_pulp_chunk(blocks, core, cores, &c[0], &c[1]);
        c[0] *= 4;
        c[1] = 4 * c[1] < p->out_c ? 4 * c[1] : p->out_c;
    } else {
        mixq_pulp_chunk(p->out_h, core, cores, &r[0], &r[1]);
    }
}

/* n codes of channel c, `step` bytes apart, into consecutive bytes (8-bit input). */
static void dw_gather8(uint8_t *dst, const uint8_t *src, int32_t step, int32_t n)
{
#if defined(__riscv)
    const int32_t pairs = n / 2;
    if (pairs > 0) {  /* p.lbu t, step(src!) twice, p.sb t, 1(dst!) twice: 4 cycles / 2 codes */
        uint32_t t0, t1;
        __asm__ volatile(MIXQ_LOOP_HEAD("8")
                         ".insn r 0x0b, 7, 0x20, %[t0], %[s], %[k]\n\t"
                         ".insn r 0x0b, 7, 0x20, %[t1], %[s], %[k]\n\t"
                         ".insn s 0x2b, 0, %[t0], 1(%[d])\n\t"
                         ".insn s 0x2b, 0, %[t1], 1(%[d])\n\t"
                         ".option pop\n\t"
                         : [s] "+r"(src), [d] "+r"(dst), [t0] "=&r"(t0), [t1] "=&r"(t1)
                         : [n] "r"(pairs), [k] "r"(step) : "memory");
    }
    if (n % 2 != 0) {
        *dst = *src;
    }
#else
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i * step];
    }
#endif
}

/* Zeros over n bytes (a multiple of 4) at a word-aligned address. */
static void dw_zero(uint8_t *dst, int32_t n)
{
    for (int32_t i = 0; i < n / 4; i++) {
        ((uint32_t *)(void *)dst)[i] = 0u;
        __asm__ volatile("");  /* a word loop, no library call */
    }
}

/* The codes of channel c in a plane of `rows` rows from input row iy0, one code per byte
 * (two's complement when signed), row j at plane + j * stride, column pad_left + x for input
 * column x. Writes only those bytes: the rows outside the input and the padding columns stay
 * as they were (zeroed once per layer). */
static void dw_plane(const mixq_conv_params_t *p, const uint8_t *input, int32_t c, int32_t iy0,
                     int32_t rows, uint8_t *plane, int32_t stride)
{
    const int32_t row_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t left = p->pad_left < stride ? p->pad_left : stride;
    const int32_t n = p->in_w < stride - left ? p->in_w : stride - left;
    const int32_t j0 = iy0 < 0 ? -iy0 : 0;
    const int32_t j1 = p->in_h - iy0 < rows ? p->in_h - iy0 : rows;
    for (int32_t j = j0; j < j1; j++) {
        uint8_t *dst = plane + j * stride + left;
        const uint8_t *src = input + (iy0 + j) * p->in_w * row_bytes;
        if (p->in_bits == 8) {
            dw_gather8(dst, src + c, row_bytes, n);
        } else {  /* the code's field sits at the same bit of every pixel's byte */
            const int32_t per_log2 = mixq_codes_per_byte_log2(p->in_bits);
            const int32_t up = 32 - p->in_bits - (c & ((1 << per_log2) - 1)) * p->in_bits;
            const int32_t down = 32 - p->in_bits;
            src += c >> per_log2;
            for (int32_t x = 0; x < n; x++, src += row_bytes) {
                const uint32_t field = (uint32_t)*src << up;  /* the code in the top bits */
                const uint32_t sign = (uint32_t)p->in_signed & (field >> 31);
                dst[x] = (uint8_t)((field >> down) - (sign << p->in_bits));
            }
        }
    }
}

/* Channel c's weights as signed bytes, k_h rows of dw_row_words words (taps beyond k_w zero),
 * from the reference layout (k_h, k_w, C) of sub-byte weights: unpacked here, once per
 * channel (8-bit weights are stored in this form, see mixq_pulp.h). */
static void dw_weights(const mixq_conv_params_t *p, int32_t c, uint8_t *w)
{
    const int32_t row_bytes = mixq_row_bytes(p->in_c, p->w_bits), words = dw_row_words(p);
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        for (int32_t i = 0; i < 4 * words; i++) {
            w[ky * 4 * words + i] = i < p->k_w ?
                (uint8_t)mixq_load_code(p->weight + (ky * p->k_w + i) * row_bytes, c, p->w_bits, 1)
                : 0u;
        }
    }
}

#if defined(__riscv)
#define DW_DOT1(f) __asm__ volatile(MIXQ_PLW(x0, a) MIXQ_DOT(f, acc, x0, w0) \
    : [acc] "+r"(acc), [a] "+r"(a), [x0] "=&r"(x0) : [w0] "r"(w[i]) : "memory")
#endif

/* The window dot product of the output whose window starts at plane byte `a`. */
static inline int32_t dw_window(const uint8_t *a, const uint32_t *w, int32_t k_h, int32_t words,
                                int32_t stride, int32_t a_signed)
{
    int32_t acc = 0;
#if defined(__riscv)
    uint32_t x0;
    for (int32_t i = 0; i < k_h * words; i++) {
        if (i % words == 0) {
            a += i == 0 ? 0 : stride - 4 * words;
        }
        if (a_signed) {
            DW_DOT1(MIXQ_SDOTSP_B);
        } else {
            DW_DOT1(MIXQ_SDOTUSP_B);
        }
    }
    (void)x0;
#else
    const uint8_t *wb = (const uint8_t *)w;
    for (int32_t ky = 0; ky < k_h; ky++) {
        for (int32_t i = 0; i < 4 * words; i++) {
            const int32_t x = a_signed ? (int32_t)(int8_t)a[ky * stride + i] : a[ky * stride + i];
            acc += x * (int8_t)wb[ky * 4 * words + i];
        }
    }
#endif
    return acc;
}

/* One channel's requantization constants. */
typedef struct {
    int64_t bias;
    int32_t multiplier, shift, act_min, act_max;
} dw_requant_t;

#if defined(__riscv)
/* Output row of a 3 x (<= 4) window with 8-bit outputs, the hot loop: per output 3 p.lw
 * (unaligned, row stride post-increment), 3 dot products, the requantization, one byte store. */
#define DW_ROW3(f) \
    for (int32_t ox = 0; ox < n; ox++, a += step_x, y += out_row) { \
        const uint8_t *at = a; \
        int32_t acc = 0; \
        uint32_t x0, x1, x2; \
        __asm__ volatile(MIXQ_PLW_RR(x0, at, st) MIXQ_PLW_RR(x1, at, st) MIXQ_PLW_RR(x2, at, st) \
                         MIXQ_DOT(f, acc, x0, w0) MIXQ_DOT(f, acc, x1, w1) \
                         MIXQ_DOT(f, acc, x2, w2) \
                         : [acc] "+r"(acc), [at] "+r"(at), [x0] "=&r"(x0), [x1] "=&r"(x1), \
                           [x2] "=&r"(x2) \
                         : [st] "r"(stride), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2) \
                         : "memory"); \
        *y = (uint8_t)mixq_pulp_requantize(acc, q.bias, q.multiplier, q.shift, q.act_min, \
                                           q.act_max); \
    }

/* An output row as one hardware loop when shift >= 32 (then the requantization is the high
 * word alone: y = (hi(acc * multiplier) + hi(bias) + carry) >> (shift - 32), never beyond
 * int32): per output 3 p.lw (the last one steps back to the next window), a pv.dot* and two
 * pv.sdot*, mul / mulh and the carry of the 64-bit add, sra, p.max / p.min (the clamp) and
 * p.sb with the output pixel stride as post-increment: 16 instructions, 20 cycles. f0: the
 * non-accumulating dot product (pv.dotsp.b / pv.dotusp.b), f: the accumulating one. */
#define DW_LOOP3(f0, f) { \
    const uint8_t *at = a; \
    uint8_t *yt = y; \
    const int32_t back = step_x - 2 * stride, down = q.shift - 32; \
    const uint32_t blo = (uint32_t)(uint64_t)q.bias; \
    const uint32_t bhi = (uint32_t)((uint64_t)q.bias >> 32); \
    uint32_t x0, x1, x2, acc; \
    __asm__ volatile(MIXQ_LOOP_HEAD("32") \
        MIXQ_PLW_RR(x0, at, st) MIXQ_PLW_RR(x1, at, st) MIXQ_PLW_RR(x2, at, bk) \
        MIXQ_DOT(f0, acc, x0, w0) MIXQ_DOT(f, acc, x1, w1) MIXQ_DOT(f, acc, x2, w2) \
        MIXQ_REQUANT_HI(x2, acc, x1) \
        ".insn r 0x2b, 4, 0, %[ors], %[yt], %[x2]\n\t" \
        ".option pop\n\t" \
        : [at] "+r"(at), [yt] "+r"(yt), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), \
          [acc] "=&r"(acc) \
        : [n] "r"(n), [st] "r"(stride), [bk] "r"(back), [w0] "r"(w0), [w1] "r"(w1), \
          [w2] "r"(w2), [m] "r"(q.multiplier), [blo] "r"(blo), [bhi] "r"(bhi), \
          [dn] "r"(down), [lo] "r"(q.act_min), [hi] "r"(q.act_max), [ors] "r"(out_row) \
        : "memory"); \
}

/* One core's share of a layer whose windows are 3 x (<= 4) with 8-bit inputs, weights and
 * outputs, set up once per core: the hot path. */
typedef struct {
    const uint8_t *src;        /* input row of plane row j0, at channel 0 */
    uint8_t *dst;              /* plane row j0, column pad_left */
    int32_t gather_rows, n;    /* input rows in the plane (j1 - j0), codes per row */
    int32_t pixel_bytes, in_row_bytes;
    uint8_t *plane;
    int32_t stride, step_y, step_x;
    uint8_t *out;              /* first output pixel of the share, channel 0 */
    int32_t out_rows, out_w, out_row, y_row;
    int32_t a_signed, act_min, act_max;
    const uint32_t *weight;    /* 8-bit weights: 3 words per channel; else NULL */
    const int64_t *bias;
    const int32_t *multiplier, *shift;
    const mixq_conv_params_t *p;  /* sub-byte inputs or weights: the general plane / unpack */
    const uint8_t *input;
    int32_t iy0, rows;
    uint32_t *wbuf;
} dw_core3_t;

/* Channel ch of a dw_core3_t share: its plane rows (p.lbu / p.sb gathers), then per output
 * 3 p.lw (unaligned, row stride post-increment) and 3 dot products with the weights in
 * registers, the requantization and one byte store. Out of line, with every constant of the
 * loop in a register. */
__attribute__((noinline)) static void dw_channel3(const dw_core3_t *g, int32_t ch)
{
    if (g->p->in_bits == 8) {
        const uint8_t *src = g->src + ch;
        uint8_t *dst = g->dst;
        for (int32_t j = 0; j < g->gather_rows; j++, src += g->in_row_bytes, dst += g->stride) {
            dw_gather8(dst, src, g->pixel_bytes, g->n);
        }
    } else {
        dw_plane(g->p, g->input, ch, g->iy0, g->rows, g->plane, g->stride);
    }
    const uint32_t *w = g->weight + 3 * ch;
    if (g->weight == NULL) {
        dw_weights(g->p, ch, (uint8_t *)g->wbuf);
        w = g->wbuf;
    }
    const uint32_t w0 = w[0], w1 = w[1], w2 = w[2];
    const dw_requant_t q = {g->bias[ch], g->multiplier[ch], g->shift[ch], g->act_min,
                            g->act_max};
    const int32_t stride = g->stride, step_x = g->step_x, step_y = g->step_y;
    const int32_t n = g->out_w, out_row = g->out_row, y_row = g->y_row, rows = g->out_rows;
    const uint8_t *plane = g->plane;
    uint8_t *out = g->out + ch;
    for (int32_t i = 0; i < rows; i++, plane += step_y, out += y_row) {
        const uint8_t *a = plane;
        uint8_t *y = out;
        if (q.shift >= 32) {  /* the whole row in one hardware loop */
            if (g->a_signed) {
                DW_LOOP3("1, 0x4c", MIXQ_SDOTSP_B)
            } else {
                DW_LOOP3("1, 0x44", MIXQ_SDOTUSP_B)
            }
            continue;
        }
        if (g->a_signed) {
            DW_ROW3(MIXQ_SDOTSP_B)
        } else {
            DW_ROW3(MIXQ_SDOTUSP_B)
        }
    }
}
#endif

/* Core `core`'s share of the layer: per channel, its plane, its weights, then its outputs. */
static void pulp_dw(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                    uint8_t *scratch, int32_t core)
{
    int32_t c[2], r[2];
    dw_share(p, core, c, r);
    if (c[0] >= c[1] || r[0] >= r[1]) {
        return;  /* no share for this core */
    }
    const int32_t stride = dw_stride(p), words = dw_row_words(p), rows = dw_rows(p, r[1] - r[0]);
    uint8_t *plane = scratch + core * dw_core_bytes(p);
    uint32_t *wbuf = (uint32_t *)(void *)(plane + dw_rows(p, p->out_h) * stride);
    /* read once: the byte stores below may alias *p for the compiler */
    const int32_t out_row = mixq_row_bytes(p->out_c, p->out_bits), out_bits = p->out_bits;
    const int32_t out_w = p->out_w, k_h = p->k_h, a_signed = p->in_signed;
    const int32_t step_y = p->stride_h * stride, step_x = p->stride_w;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    dw_zero(plane, rows * stride);  /* the padding, shared by every channel's plane */
#if defined(__riscv)
    if (k_h == 3 && words == 1 && out_bits == 8) {
        const int32_t iy0 = r[0] * p->stride_h - p->pad_top, left = p->pad_left;
        const int32_t j0 = iy0 < 0 ? -iy0 : 0, j1 = p->in_h - iy0 < rows ? p->in_h - iy0 : rows;
        const int32_t pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
        const dw_core3_t g = {
            input + (iy0 + j0) * p->in_w * pixel_bytes, plane + j0 * stride + left,
            j1 > j0 ? j1 - j0 : 0, p->in_w < stride - left ? p->in_w : stride - left,
            pixel_bytes, p->in_w * pixel_bytes, plane, stride, step_y, step_x,
            output + r[0] * out_w * out_row, r[1] - r[0], out_w, out_row, out_w * out_row,
            a_signed, act_min, act_max,
            p->w_bits == 8 ? (const uint32_t *)(const void *)p->weight : NULL, p->bias,
            p->multiplier, p->shift, p, input, iy0, rows, wbuf};
        for (int32_t ch = c[0]; ch < c[1]; ch++) {
            dw_channel3(&g, ch);
        }
        return;
    }
#endif
    for (int32_t ch = c[0]; ch < c[1]; ch++) {
        dw_plane(p, input, ch, r[0] * p->stride_h - p->pad_top, rows, plane, stride);
        const uint32_t *w = wbuf;
        if (p->w_bits == 8) {
            w = (const uint32_t *)(const void *)p->weight + ch * k_h * words;
        } else {
            dw_weights(p, ch, (uint8_t *)wbuf);
        }
        const dw_requant_t q = {p->bias[ch], p->multiplier[ch], p->shift[ch], act_min, act_max};
        for (int32_t oy = r[0]; oy < r[1]; oy++) {
            const uint8_t *a = plane + (oy - r[0]) * step_y;
            uint8_t *y = output + oy * out_w * out_row;
            for (int32_t ox = 0; ox < out_w; ox++, a += step_x, y += out_row) {
                const int32_t acc = dw_window(a, w, k_h, words, stride, a_signed);
                const int32_t v = mixq_pulp_requantize(acc, q.bias, q.multiplier, q.shift,
                                                       act_min, act_max);
                if (out_bits == 8) {
                    y[ch] = (uint8_t)v;
                } else {
                    mixq_store_code(y, ch, out_bits, v);
                }
            }
        }
    }
}

MIXQ_CONV_KERNEL(mixq_pulp_dwconv_l8)
{
    for (int32_t core = 0; core < MIXQ_PULP_CORES; core++) {
        mixq_pulp_fork(core);
        pulp_dw(p, input, output, scratch, core);
    }
    mixq_pulp_fork(-1);
}
