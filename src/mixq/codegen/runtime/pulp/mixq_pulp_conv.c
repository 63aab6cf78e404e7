/* PULP im2col + 4x2 MatMul kernels for conv, pointwise and fully connected (see mixq_pulp.h). */
#include "mixq_pulp.h"

#include <string.h>

/* Kp: column length in codes, a multiple of the codes per packed weight word. */
static int32_t pulp_kp(const mixq_conv_params_t *p)
{
    const int32_t per_word = 32 / p->w_bits;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    return (k + per_word - 1) / per_word * per_word;
}

int32_t mixq_pulp_conv_scratch_bytes(const mixq_conv_params_t *p, int32_t lane_bits)
{
    return MIXQ_PULP_CORES * 2 * pulp_kp(p) * lane_bits / 8;
}

/* n bytes from src to dst: word by word when both are word aligned and n is whole words
 * (picolibc's memcpy / memset run byte loops on rv32imc), else memcpy; src NULL: zeros. */
static inline __attribute__((always_inline)) void pulp_copy(uint8_t *dst, const uint8_t *src,
                                                            int32_t n)
{
    if (n <= 0) {
        return;
    }
    if (((uintptr_t)dst | (uintptr_t)src | (uint32_t)n) % 4u != 0u) {
        if (src != NULL) {
            memcpy(dst, src, (size_t)n);
        } else {
            memset(dst, 0, (size_t)n);
        }
        return;
    }
    uint32_t *d = (uint32_t *)(void *)dst;
    const uint32_t *s = (const uint32_t *)(const void *)src;
    const int32_t words = n / 4;
#if defined(__riscv)
    /* hardware loops of two words per iteration: p.lw, p.lw, p.sw, p.sw (both loads before the
     * stores: no load-use stall), or two p.sw of x0 */
    if (words >= 2) {
        uint32_t a, b;
        if (s != NULL) {
            __asm__ volatile(MIXQ_LOOP_HEAD("8") MIXQ_PLW(a, s) MIXQ_PLW(b, s)
                             ".insn s 0x2b, 2, %[a], 4(%[d])\n\t"
                             ".insn s 0x2b, 2, %[b], 4(%[d])\n\t.option pop\n\t"
                             : [s] "+r"(s), [d] "+r"(d), [a] "=&r"(a), [b] "=&r"(b)
                             : [n] "r"(words / 2) : "memory");
        } else {
            __asm__ volatile(MIXQ_LOOP_HEAD("4") ".insn s 0x2b, 2, x0, 4(%[d])\n\t"
                             ".insn s 0x2b, 2, x0, 4(%[d])\n\t.option pop\n\t"
                             : [d] "+r"(d) : [n] "r"(words / 2) : "memory");
        }
    }
    if (words % 2 != 0) {
        *d = s != NULL ? *s : 0u;
    }
#else
    for (int32_t i = 0; i < words; i++) {
        d[i] = s != NULL ? s[i] : 0u;
    }
#endif
}

/* Window row ky of output pixel (oy, ox) at the lane width (in_bits == lane_bits): its taps
 * inside the input as one copy of their contiguous codes, the padded ones zeroed. */
static void pulp_copy_row(const mixq_conv_params_t *p, const uint8_t *input, int32_t oy,
                          int32_t ox, int32_t ky, uint8_t *dst)
{
    const int32_t row_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
    const int32_t ix = ox * p->stride_w - p->pad_left;
    int32_t kx0 = ix < 0 ? -ix : 0, kx1 = p->in_w - ix < p->k_w ? p->in_w - ix : p->k_w;
    if (iy < 0 || iy >= p->in_h || kx1 <= kx0) {
        kx0 = kx1 = 0;
    }
    pulp_copy(dst, NULL, kx0 * row_bytes);
    if (kx1 > kx0) {
        pulp_copy(dst + kx0 * row_bytes, input + (iy * p->in_w + ix + kx0) * row_bytes,
                  (kx1 - kx0) * row_bytes);
    }
    pulp_copy(dst + kx1 * row_bytes, NULL, (p->k_w - kx1) * row_bytes);
}

/* Column of output pixel `pixel` (col_words words): K codes widened to lane_bits-bit lanes,
 * zero padded. A tap whose codes already have the lane width is one copy of its packed row. */
static void pulp_im2col(const mixq_conv_params_t *p, const uint8_t *input, int32_t pixel,
                        int32_t lane_bits, uint32_t *col, int32_t col_words)
{
    const int32_t oy = pixel / p->out_w, ox = pixel % p->out_w;
    const int32_t per_word = 32 / lane_bits;
    const uint32_t mask = (1u << lane_bits) - 1u;
    const int32_t row_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t copy = p->in_bits == lane_bits && (p->in_c * lane_bits) % 8 == 0;
    uint8_t *bytes = (uint8_t *)col;
    if (!copy) {
        pulp_copy(bytes, NULL, col_words * 4);  /* the widening below ORs codes in */
    }
    int32_t k = 0;
    if (copy) {  /* a window row at a time */
        for (int32_t ky = 0; ky < p->k_h; ky++, k += p->k_w * p->in_c) {
            pulp_copy_row(p, input, oy, ox, ky, bytes + k * lane_bits / 8);
        }
    }
    for (int32_t ky = 0; ky < p->k_h && !copy; ky++) {
        const int32_t iy = oy * p->stride_h - p->pad_top + ky;
        for (int32_t kx = 0; kx < p->k_w; kx++, k += p->in_c) {
            const int32_t ix = ox * p->stride_w - p->pad_left + kx;
            const int32_t padded = iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w;
            const uint8_t *row = padded ? NULL : input + (iy * p->in_w + ix) * row_bytes;
            if (padded) {
                continue;  /* zero padding: the column was cleared */
            }
            for (int32_t c = 0; c < p->in_c; c++) {
                const int32_t code = mixq_load_code(row, c, p->in_bits, p->in_signed);
                col[(k + c) / per_word] |=
                    ((uint32_t)code & mask) << (((k + c) % per_word) * lane_bits);
            }
        }
    }
    if (copy) {  /* codes K .. Kp - 1 */
        pulp_copy(bytes + k * lane_bits / 8, NULL, col_words * 4 - k * lane_bits / 8);
    }
}

/* Whether the input itself serves as the columns (checked once per layer and core): its codes
 * contiguous, of the lane width, whole words long (1x1 without padding, or a fully connected
 * layer over the whole input). */
static int32_t pulp_direct_ok(const mixq_conv_params_t *p, int32_t lane_bits, int32_t kp)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t unpadded = p->pad_top == 0 && p->pad_left == 0 &&
                             p->out_h * p->stride_h <= p->in_h && p->out_w * p->stride_w <= p->in_w;
    const int32_t whole = p->k_h == p->in_h && p->k_w == p->in_w;
    return p->in_bits == lane_bits && k == kp && (k * lane_bits) % 32 == 0 && unpadded &&
           (whole || (p->k_h == 1 && p->k_w == 1)) && (p->in_c * lane_bits) % 8 == 0;
}

/* The column of output pixel `pixel` in the input (pulp_direct_ok layers), NULL when not word
 * aligned; no division when output pixels map to input pixels one to one (stride 1, same width). */
static inline __attribute__((always_inline)) const uint32_t *pulp_direct(
    const mixq_conv_params_t *p, const uint8_t *input, int32_t pixel)
{
    int32_t at_px = pixel;
    if (p->stride_h != 1 || p->stride_w != 1 || p->in_w != p->out_w) {
        const int32_t oy = pixel / p->out_w, ox = pixel % p->out_w;
        at_px = oy * p->stride_h * p->in_w + ox * p->stride_w;
    }
    const uint8_t *at = input + at_px * mixq_row_bytes(p->in_c, p->in_bits);
    return ((uintptr_t)at % 4u == 0u) ? (const uint32_t *)(const void *)at : NULL;
}

/* How the MatMul walks its two columns: `segs` runs of `groups` weight groups; after each run
 * column 0 skips jump0 words and column 1 jump1 (0: a contiguous im2col column; a window read
 * in place skips the input between its rows). */
typedef struct {
    int32_t groups, segs, jump0, jump1;
} pulp_walk_t;

/* Windows read in place, row by row, need the codes of one window row to be whole weight
 * groups (so Kp = K) of whole words at the lane width, and word-aligned input rows. */
static int32_t pulp_rows_in_place(const mixq_conv_params_t *p, int32_t lane_bits)
{
    const int32_t row_codes = p->k_w * p->in_c;
    return p->in_bits == lane_bits && row_codes % (32 / p->w_bits) == 0 &&
           (row_codes * lane_bits) % 32 == 0 && (p->in_c * lane_bits) % 32 == 0;
}

/* The first window row of output pixel `pixel` in the input when the window lies inside it
 * (no padding) and is word aligned; NULL otherwise. */
static const uint32_t *pulp_window(const mixq_conv_params_t *p, const uint8_t *input,
                                   int32_t pixel)
{
    const int32_t oy = pixel / p->out_w, ox = pixel % p->out_w;
    const int32_t iy = oy * p->stride_h - p->pad_top, ix = ox * p->stride_w - p->pad_left;
    if (iy < 0 || ix < 0 || iy + p->k_h > p->in_h || ix + p->k_w > p->in_w) {
        return NULL;
    }
    const uint8_t *at = input + (iy * p->in_w + ix) * mixq_row_bytes(p->in_c, p->in_bits);
    return ((uintptr_t)at % 4u == 0u) ? (const uint32_t *)(const void *)at : NULL;
}

#include "mixq_pulp_out.h"

/* Channels cb .. cb + n_ch - 1 of two output pixels (rows row0, row1: the same row for a lone
 * pixel) from their accumulators acc[j], acc[4 + j], one output at a time (the blocks that the
 * MatMul does not store itself). */
static void pulp_output(const mixq_conv_params_t *p, const int32_t *acc, int32_t cb,
                        int32_t n_ch, uint8_t *row0, uint8_t *row1)
{
    for (int32_t j = 0; j < n_ch; j++) {
        const int32_t ch = cb + j;
        const int32_t y0 = mixq_pulp_requantize(acc[j], p->bias[ch], p->multiplier[ch],
                                                p->shift[ch], p->act_min, p->act_max);
        const int32_t y1 = mixq_pulp_requantize(acc[4 + j], p->bias[ch], p->multiplier[ch],
                                                p->shift[ch], p->act_min, p->act_max);
        mixq_store_code(row0, ch, p->out_bits, y0);
        mixq_store_code(row1, ch, p->out_bits, y1);
    }
}

#if defined(__riscv)
/* pv.sll/sra.sci.b (MIXQ_PLW, MIXQ_DOT, MIXQ_LOOP_HEAD: mixq_pulp.h) */
/* pv.sll.sci.b / pv.sra.sci.b rd, rs, 2 * k: the shift's bits 5..1 go in the rs2 field (xk) */
#define MIXQ_SLL(xk, rd, rs) ".insn r 0x57, 7, 0x28, %[" #rd "], %[" #rs "], " xk "\n\t"
#define MIXQ_SRA(xk, rd, rs) ".insn r 0x57, 7, 0x24, %[" #rd "], %[" #rs "], " xk "\n\t"
#define MIXQ_ACT MIXQ_PLW(x0, ap) MIXQ_PLW(x1, bp)
#define MIXQ_W4 MIXQ_PLW(w0, wp) MIXQ_PLW(w1, wp) MIXQ_PLW(w2, wp) MIXQ_PLW(w3, wp)
#define MIXQ_DOTS(f, t0, t1, t2, t3) \
    MIXQ_DOT(f, c0, x0, t0) MIXQ_DOT(f, c1, x0, t1) MIXQ_DOT(f, c2, x0, t2) \
    MIXQ_DOT(f, c3, x0, t3) MIXQ_DOT(f, c4, x1, t0) MIXQ_DOT(f, c5, x1, t1) \
    MIXQ_DOT(f, c6, x1, t2) MIXQ_DOT(f, c7, x1, t3)
/* one channel of an unpacked part: t = sra(sll(w)), then its two dot products */
#define MIXQ_CH2(f, sl, sr, w, ca, cb) MIXQ_SLL(sl, t, w) MIXQ_SRA(sr, t, t) \
    MIXQ_DOT(f, ca, x0, t) MIXQ_DOT(f, cb, x1, t)
#define MIXQ_CH1(f, sr, w, ca, cb) MIXQ_SRA(sr, t, w) MIXQ_DOT(f, ca, x0, t) \
    MIXQ_DOT(f, cb, x1, t)
#define MIXQ_PART2(f, sl, sr) MIXQ_ACT MIXQ_CH2(f, sl, sr, w0, c0, c4) \
    MIXQ_CH2(f, sl, sr, w1, c1, c5) MIXQ_CH2(f, sl, sr, w2, c2, c6) MIXQ_CH2(f, sl, sr, w3, c3, c7)
#define MIXQ_PART1(f, sr) MIXQ_ACT MIXQ_CH1(f, sr, w0, c0, c4) MIXQ_CH1(f, sr, w1, c1, c5) \
    MIXQ_CH1(f, sr, w2, c2, c6) MIXQ_CH1(f, sr, w3, c3, c7)
#define MIXQ_OPERANDS \
    : [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [c4] "+r"(c4), \
      [c5] "+r"(c5), [c6] "+r"(c6), [c7] "+r"(c7), [wp] "+r"(w), [ap] "+r"(col), [bp] "+r"(col1), \
      [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [x0] "=&r"(x0), \
      [x1] "=&r"(x1), [t] "=&r"(t) \
    : [n] "r"(groups) : "memory"
/* 14 instructions: 4 weight words, 2 activation words, 8 dot products */
#define MIXQ_MM_R1(f) __asm__ volatile(MIXQ_LOOP_HEAD("28") MIXQ_W4 MIXQ_ACT \
    MIXQ_DOTS(f, w0, w1, w2, w3) ".option pop\n\t" MIXQ_OPERANDS)
/* 4-bit weights into bytes: part 0 = sra4(sll4(w)), part 1 = sra4(w); 36 instructions */
#define MIXQ_MM_R2(f) __asm__ volatile(MIXQ_LOOP_HEAD("72") MIXQ_W4 \
    MIXQ_PART2(f, "x2", "x2") MIXQ_PART1(f, "x2") ".option pop\n\t" \
    MIXQ_OPERANDS)
/* 2-bit weights into bytes: part j = sra6(sll(6 - 2j)(w)); 72 instructions */
#define MIXQ_MM_R4(f) __asm__ volatile(MIXQ_LOOP_HEAD("144") MIXQ_W4 \
    MIXQ_PART2(f, "x3", "x3") MIXQ_PART2(f, "x2", "x3") \
    MIXQ_PART2(f, "x1", "x3") MIXQ_PART1(f, "x3") ".option pop\n\t" \
    MIXQ_OPERANDS)
#define MIXQ_MM_BODY(R, fs, fu) \
    int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0; \
    uint32_t w0, w1, w2, w3, x0, x1, t; \
    const int32_t groups = k->groups; \
    if (a_signed) { \
        for (int32_t s = 0; s < k->segs; s++, col += k->jump0, col1 += k->jump1) { R(fs); } \
    } else { \
        for (int32_t s = 0; s < k->segs; s++, col += k->jump0, col1 += k->jump1) { R(fu); } \
    } \
    (void)w0; (void)w1; (void)w2; (void)w3; (void)x0; (void)x1; (void)t; \
    if (store) { \
        pulp_store4(&q, c0, c1, c2, c3, c4, c5, c6, c7); \
        return 1; \
    } \
    acc[0] = c0; acc[1] = c1; acc[2] = c2; acc[3] = c3; \
    acc[4] = c4; acc[5] = c5; acc[6] = c6; acc[7] = c7; \
    return 0;
#define MIXQ_MM(name, lane_bits, w_bits, R, fs, fu) \
    static inline __attribute__((always_inline)) int32_t name( \
        const uint32_t *col, const uint32_t *col1, const uint32_t *w, const pulp_walk_t *k, \
        int32_t a_signed, int32_t *acc, int32_t store, pulp_store_t q) \
    { MIXQ_MM_BODY(R, fs, fu) }
#else
static int32_t pulp_lane(uint32_t word, int32_t i, int32_t bits, int32_t is_signed)
{
    int32_t v = (int32_t)((word >> (i * bits)) & ((1u << bits) - 1u));
    return (is_signed && (v >> (bits - 1))) ? v - (1 << bits) : v;
}

/* Part j of a packed weight word as signed bytes (XpulpV2 shift pair), or the word itself. */
static uint32_t pulp_part(uint32_t word, int32_t j, int32_t lane_bits, int32_t w_bits)
{
    if (lane_bits == w_bits) {
        return word;
    }
    uint32_t out = 0;
    for (int32_t b = 0; b < 4; b++) {
        const int32_t v = pulp_lane(word >> (8 * b), j, w_bits, 1);
        out |= ((uint32_t)v & 0xFFu) << (8 * b);
    }
    return out;
}

static void pulp_mm_c(const uint32_t *col, const uint32_t *col1, const uint32_t *w,
                      const pulp_walk_t *k, int32_t a_signed, int32_t *acc, int32_t lane_bits,
                      int32_t w_bits)
{
    const int32_t parts = lane_bits / w_bits, lanes = 32 / lane_bits;
    for (int32_t i = 0; i < 8; i++) {
        acc[i] = 0;
    }
    for (int32_t s = 0; s < k->segs; s++) {
        for (int32_t g = 0; g < k->groups; g++, w += 4) {
            for (int32_t j = 0; j < parts; j++) {
                const uint32_t x[2] = {*col++, *col1++};
                for (int32_t ch = 0; ch < 4; ch++) {
                    const uint32_t wp = pulp_part(w[ch], j, lane_bits, w_bits);
                    for (int32_t px = 0; px < 2; px++) {
                        uint32_t sum = 0;
                        for (int32_t l = 0; l < lanes; l++) {
                            sum += (uint32_t)(pulp_lane(x[px], l, lane_bits, a_signed) *
                                              pulp_lane(wp, l, lane_bits, 1));
                        }
                        acc[px * 4 + ch] = (int32_t)((uint32_t)acc[px * 4 + ch] + sum);
                    }
                }
            }
        }
        col += k->jump0;
        col1 += k->jump1;
    }
}
#define MIXQ_MM(name, lane_bits, w_bits, R, fs, fu) \
    static int32_t name(const uint32_t *col, const uint32_t *col1, const uint32_t *w, \
                        const pulp_walk_t *k, int32_t a_signed, int32_t *acc, \
                        int32_t store, pulp_store_t q) \
    { (void)store; (void)q; pulp_mm_c(col, col1, w, k, a_signed, acc, lane_bits, w_bits); return 0; }
#endif

/* pv.sdotsp / pv.sdotusp: funct3, funct7 of the .b, .n and .c forms */
MIXQ_MM(pulp_mm_l8_w8, 8, 8, MIXQ_MM_R1, "1, 0x5c", "1, 0x54")
MIXQ_MM(pulp_mm_l8_w4, 8, 4, MIXQ_MM_R2, "1, 0x5c", "1, 0x54")
MIXQ_MM(pulp_mm_l8_w2, 8, 2, MIXQ_MM_R4, "1, 0x5c", "1, 0x54")
MIXQ_MM(pulp_mm_l4_w4, 4, 4, MIXQ_MM_R1, "2, 0x5c", "2, 0x54")
MIXQ_MM(pulp_mm_l2_w2, 2, 2, MIXQ_MM_R1, "2, 0x5d", "2, 0x55")

/* The MatMul of one block: 1 when it stored the outputs itself (store, RISC-V: by q), else 0
 * with the accumulators in acc. */
typedef int32_t (*pulp_mm_fn)(const uint32_t *, const uint32_t *, const uint32_t *,
                              const pulp_walk_t *, int32_t, int32_t *, int32_t, pulp_store_t);

/* Core `core`'s share of the layer (see mixq_pulp.h, Cluster). */
static inline __attribute__((always_inline)) void pulp_conv(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch, int32_t lane_bits, pulp_mm_fn mm, int32_t core)
{
    const int32_t kp = pulp_kp(p);
    const int32_t groups = kp / (32 / p->w_bits);
    const int32_t col_words = kp * lane_bits / 32;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t out_row = mixq_row_bytes(p->out_c, p->out_bits);
    uint32_t *cols = (uint32_t *)(void *)scratch + core * 2 * col_words;
    const int32_t pairs = (pixels + 1) / 2, blocks = (p->out_c + 3) / 4;
    int32_t px_lo = 0, px_hi = pairs, cb_lo = 0, cb_hi = blocks;
    if (pairs >= MIXQ_PULP_CORES) {
        mixq_pulp_chunk(pairs, core, MIXQ_PULP_CORES, &px_lo, &px_hi);
    } else {
        mixq_pulp_chunk(blocks, core, MIXQ_PULP_CORES, &cb_lo, &cb_hi);
    }
    if (px_lo >= px_hi || cb_lo >= cb_hi) {
        return;  /* no share for this core */
    }
    const int32_t out_c = p->out_c;
    const int32_t *blob = (const int32_t *)(const void *)p->weight;
    const pulp_out_t mode = (pulp_out_t)blob[4 * blocks * groups];  /* after the weights */
    /* windows inside the input are read in place, row by row (words skipped between rows) */
    const int32_t in_place = pulp_rows_in_place(p, lane_bits);
    const int32_t direct = pulp_direct_ok(p, lane_bits, kp);
    const int32_t skip = (p->in_w - p->k_w) * mixq_row_bytes(p->in_c, p->in_bits) / 4;
    int32_t acc[8];
    for (int32_t px = 2 * px_lo; px < 2 * px_hi; px += 2) {
        const int32_t n_px = pixels - px >= 2 ? 2 : 1;
        const uint32_t *c0 = direct ? pulp_direct(p, input, px) : NULL;
        const uint32_t *c1 = direct ? pulp_direct(p, input, px + n_px - 1) : NULL;
        pulp_walk_t walk = {groups, 1, 0, 0};
        if (c0 == NULL || c1 == NULL) {
            c0 = in_place ? pulp_window(p, input, px) : NULL;
            c1 = in_place ? pulp_window(p, input, px + n_px - 1) : NULL;
            if (c0 != NULL || c1 != NULL) {  /* window rows in place, the others' im2col'd */
                walk = (pulp_walk_t){groups / p->k_h, p->k_h, c0 != NULL ? skip : 0,
                                     c1 != NULL ? skip : 0};
            }
            if (c0 == NULL) {
                pulp_im2col(p, input, px, lane_bits, cols, col_words);
                c0 = cols;
            }
            if (c1 == NULL) {
                pulp_im2col(p, input, px + n_px - 1, lane_bits, cols + col_words, col_words);
                c1 = cols + col_words;
            }
        }
        /* a lone last pixel: its column twice, both results stored to its own row */
        uint8_t *row0 = output + px * out_row, *row1 = row0 + (n_px - 1) * out_row;
        int32_t at = cb_lo * (p->out_bits / 2);  /* the block's first output byte */
        for (int32_t cb = 4 * cb_lo; cb < 4 * cb_hi; cb += 4, at += p->out_bits / 2) {
            const uint32_t *w = (const uint32_t *)(const void *)p->weight + cb * groups;
            const int32_t n_ch = out_c - cb < 4 ? out_c - cb : 4;
            const pulp_store_t q = {mode, p->multiplier + cb, p->shift + cb, p->bias + cb,
                                    row0 + at, row1 + at, p->act_min, p->act_max, p->out_bits};
            if (!mm(c0, c1, w, &walk, p->in_signed, acc, mode != PULP_OUT_ANY && n_ch == 4, q)) {
                pulp_output(p, acc, cb, n_ch, row0, row1);
            }
        }
    }
}

/* the entry points: one per (lane width, weight width), declared in mixq_pulp.h */
#define MIXQ_PULP_CONV(name, lane_bits, mm) \
    void name(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output, \
              uint8_t *scratch) \
    { \
        for (int32_t core = 0; core < MIXQ_PULP_CORES; core++) { \
            mixq_pulp_fork(core); \
            pulp_conv(p, input, output, scratch, lane_bits, mm, core); \
        } \
        mixq_pulp_fork(-1); \
    }
MIXQ_PULP_CONV(mixq_pulp_conv_l8_w8, 8, pulp_mm_l8_w8)
MIXQ_PULP_CONV(mixq_pulp_conv_l8_w4, 8, pulp_mm_l8_w4)
MIXQ_PULP_CONV(mixq_pulp_conv_l8_w2, 8, pulp_mm_l8_w2)
MIXQ_PULP_CONV(mixq_pulp_conv_l4_w4, 4, pulp_mm_l4_w4)
MIXQ_PULP_CONV(mixq_pulp_conv_l2_w2, 2, pulp_mm_l2_w2)
