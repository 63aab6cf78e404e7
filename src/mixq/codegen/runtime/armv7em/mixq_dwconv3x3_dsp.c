/* mixq_dwconv3x3_dsp: depthwise 3x3 convolution, stride 1 or 2, any zero padding, u8/u4/u2
 * activations, s8/s4/s2/ternary weights, ARMv7E-M DSP (conventions: mixq_dsp.h).
 *
 * Channels are processed in chunks of MIXQ_DW_CHUNK. Input rows are transposed once into a ring
 * of three int16 rows per channel (lane L = input column L - pad_left, zero padding included), so
 * that two horizontally adjacent taps of one channel are one 32-bit word. Per chunk, each
 * channel's nine weights are widened into three pairs A = (w0, w1), B = (w2, w1) per kernel row,
 * next to its requantization constants. Two adjacent outputs then take, per kernel row, two
 * (stride 1) or three (stride 2) word loads and four MACs (stride 1: out[x] = SMLAD(P0, A) +
 * SMLABB(P1, B), out[x + 1] = SMLADX(P1, B) + SMLATB(P0, A)), and one SMLAL each for the
 * requantization. That loop is inline assembly on ARM for unsigned full-range outputs with
 * shift >= 32; every other case (and the host build) runs the C twin. Sub-byte outputs are
 * staged one code per byte and packed per row. */
#include "mixq_dsp.h"

#define MIXQ_DW_CHUNK 16 /* channels per pass; a multiple of 4 keeps packed bytes whole */
#define MIXQ_DW_PARAM 12 /* words per channel: A0 B0 A1 B1 A2 B2, bias lo hi, m, t, shift, - */

typedef struct {
  int32_t chunk, row_lanes, stage_bytes;
  int32_t ring_off, stage_off, total;
} mixq_dw_layout_t;

/* Scratch layout (offsets multiples of 8; mirrored by mixq.codegen.kernels_armv7em). */
static mixq_dw_layout_t mixq_dw_layout(const mixq_conv_params_t *p) {
  mixq_dw_layout_t l;
  const int32_t last = (p->out_w - 1) * p->stride_w + 3; /* last lane read (word loads) */
  int32_t lanes = p->pad_left + p->in_w;
  if (last + 1 > lanes) lanes = last + 1;
  l.chunk = p->in_c < MIXQ_DW_CHUNK ? p->in_c : MIXQ_DW_CHUNK;
  l.row_lanes = (lanes + 1) / 2 * 2;
  l.stage_bytes = p->out_bits == 8 ? 0 : (p->out_w * l.chunk + 7) / 8 * 8;
  l.ring_off = l.chunk * MIXQ_DW_PARAM * 4;
  l.stage_off = l.ring_off + (3 * l.chunk * l.row_lanes * 2 + 7) / 8 * 8;
  l.total = l.stage_off + l.stage_bytes;
  return l;
}

int32_t mixq_dwconv3x3_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return mixq_dw_layout(p).total;
}

MIXQ_INLINE void mixq_dw_put(int16_t *d, uint32_t pair) { memcpy(d, &pair, 4); }


/* Transpose the pixels of one input row into the channel rows (d: lane of pixel 0 of channel
 * 0, rl lanes per channel row), two pixels at a time into 32-bit lane pairs: per word of codes
 * UXTB16 (8-bit) or AND (4-, 2-bit) gives two channels of one pixel, PKHBT / PKHTB pair them
 * with the next pixel. Whole words first, then the chunk's last codes byte by byte. */
MIXQ_INLINE void mixq_dw_fill_bits(const uint8_t *src, int32_t px_bytes, int32_t in_w,
                                   int32_t n, int16_t *d, int32_t rl, int32_t bits) {
  const int32_t per = 32 / bits, half = per / 2, full = n / per;
  const int32_t pairs = in_w / 2;
  /* the mask in a register: then AND takes the shifted word as its second operand (one
   * instruction per lane pair instead of LSR + AND with an immediate) */
  const uint32_t mask = mixq_opaque(bits == 4 ? 0x000F000Fu : 0x00030003u);
  for (int32_t g = 0; g < full; g++) {
    const uint8_t *s = src + 4 * g;
    int16_t *dg = d + g * per * rl;
    for (int32_t x = 0; x < pairs; x++, s += 2 * px_bytes, dg += 2) {
      const uint32_t v0 = mixq_dsp_load32(s), v1 = mixq_dsp_load32(s + px_bytes);
      if (bits == 8) {
        const uint32_t e0 = mixq_uxtb16(v0), e1 = mixq_uxtb16(v1);        /* (c0, c2) */
        const uint32_t o0 = mixq_uxtb16_ror8(v0), o1 = mixq_uxtb16_ror8(v1); /* (c1, c3) */
        mixq_dw_put(dg, mixq_pkhbt16(e0, e1));
        mixq_dw_put(dg + rl, mixq_pkhbt16(o0, o1));
        mixq_dw_put(dg + 2 * rl, mixq_pkhtb16(e0, e1));
        mixq_dw_put(dg + 3 * rl, mixq_pkhtb16(o0, o1));
      } else {
        for (int32_t k = 0; k < half; k++) {
          /* (code k, code k + half) of each pixel */
          const uint32_t t0 = (v0 >> (bits * k)) & mask, t1 = (v1 >> (bits * k)) & mask;
          mixq_dw_put(dg + k * rl, mixq_pkhbt16(t0, t1));
          mixq_dw_put(dg + (k + half) * rl, mixq_pkhtb16(t0, t1));
        }
      }
    }
  }
  /* the last pixel of an odd row, and channels past the whole words */
  for (int32_t x = 0; x < in_w; x++) {
    const int32_t c_from = x < 2 * pairs ? full * per : 0;
    for (int32_t ch = c_from; ch < n; ch++) {
      d[ch * rl + x] = (int16_t)mixq_load_code(src + x * px_bytes, ch, bits, 0);
    }
  }
}

/* Transpose input row iy, channels c0 .. c0 + n - 1, into the data lanes of n int16 rows of rl
 * lanes (the padding lanes stay zero from the chunk's start; rows outside the input are zero). */
static void mixq_dw_fill(const mixq_conv_params_t *p, const uint8_t *input, int32_t iy,
                         int32_t c0, int32_t n, int16_t *rows, int32_t rl) {
  if (iy < 0 || iy >= p->in_h) {
    memset(rows, 0, (size_t)n * (size_t)rl * 2);
    return;
  }
  const int32_t bits = p->in_bits, px_bytes = mixq_row_bytes(p->in_c, bits);
  const int32_t left = p->pad_left, in_w = p->in_w;
  const uint8_t *src = input + iy * in_w * px_bytes + c0 * bits / 8;
  if (bits == 8) mixq_dw_fill_bits(src, px_bytes, in_w, n, rows + left, rl, 8);
  else if (bits == 4) mixq_dw_fill_bits(src, px_bytes, in_w, n, rows + left, rl, 4);
  else mixq_dw_fill_bits(src, px_bytes, in_w, n, rows + left, rl, 2);
}

/* Per channel c0 + ch: widened weights A_r = (w(r,0), w(r,1)), B_r = (w(r,2), w(r,1)), r = 0..2
 * (reference layout: (ky, kx) rows of in_c codes), then bias (lo, hi), multiplier,
 * t = shift - 32 and shift. */
static void mixq_dw_params(const mixq_conv_params_t *p, int32_t c0, int32_t n, uint32_t *prm) {
  const int32_t row = mixq_row_bytes(p->in_c, p->w_bits);
  for (int32_t ch = 0; ch < n; ch++, prm += MIXQ_DW_PARAM) {
    const int32_t c = c0 + ch;
    for (int32_t r = 0; r < 3; r++) {
      const uint8_t *w = p->weight + 3 * r * row;
      const uint32_t w0 = (uint16_t)mixq_load_code(w, c, p->w_bits, 1);
      const uint32_t w1 = (uint16_t)mixq_load_code(w + row, c, p->w_bits, 1);
      const uint32_t w2 = (uint16_t)mixq_load_code(w + 2 * row, c, p->w_bits, 1);
      prm[2 * r] = w0 | w1 << 16;
      prm[2 * r + 1] = w2 | w1 << 16;
    }
    int64_t b = p->bias[c];
    int32_t sh = p->shift[c];
    /* shift < 32: scale the weights and the bias by 2^k, k = 32 - shift, when that stays exact
     * (widened weights inside int16, bias inside int64) so the fast path applies:
     * (acc * m + b) >> s == ((acc * 2^k) * m + b * 2^k) >> (s + k). */
    const int32_t k = 32 - sh, wmax = p->w_bits == 8 ? 128 : 8;
    if (k > 0 && (wmax << k) <= 32767 && b < ((int64_t)1 << (62 - k)) &&
        b > -((int64_t)1 << (62 - k))) {
      for (int32_t i = 0; i < 6; i++) {
        const uint32_t lo = (uint32_t)(uint16_t)((int16_t)(prm[i] & 0xFFFFu) * (1 << k));
        const uint32_t hi = (uint32_t)(uint16_t)((int16_t)(prm[i] >> 16) * (1 << k));
        prm[i] = lo | hi << 16;
      }
      b *= (int64_t)1 << k;
      sh = 32;
    }
    prm[6] = (uint32_t)(uint64_t)b;
    prm[7] = (uint32_t)((uint64_t)b >> 32);
    prm[8] = (uint32_t)p->multiplier[c];
    prm[9] = (uint32_t)(sh - 32);
    prm[10] = (uint32_t)sh;
    prm[11] = 0;
  }
}

/* Accumulator of output x of one channel (rows r0..r2 of that channel). */
MIXQ_INLINE int32_t mixq_dw_acc(const int16_t *const *rows, const uint32_t *w, int32_t x,
                                int32_t stride) {
  int32_t a = 0;
  for (int32_t r = 0; r < 3; r++) {
    const uint8_t *q = (const uint8_t *)(const void *)(rows[r] + x * stride);
    a = mixq_smlabb(mixq_dsp_load32(q + 4), w[2 * r + 1],
                    mixq_smlad(mixq_dsp_load32(q), w[2 * r], a));
  }
  return a;
}

/* One output row of one channel in C, any output format: codes at dst + x * step. */
static void mixq_dw_row_c(const mixq_conv_params_t *p, const int16_t *const *rows,
                          const uint32_t *prm, int32_t x0, uint8_t *dst, int32_t step) {
  const int64_t b = (int64_t)((uint64_t)prm[7] << 32 | prm[6]);
  for (int32_t x = x0; x < p->out_w; x++) {
    const int32_t acc = mixq_dw_acc(rows, prm, x, p->stride_w);
    dst[x * step] = (uint8_t)mixq_dsp_requant(acc, b, (int32_t)prm[8], (int32_t)prm[10],
                                              p->act_min, p->act_max);
  }
}

#if defined(__ARM_FEATURE_DSP)
#define MIXQ_DW_ROW1(ptr, woff, first)                                          \
  "ldrd %[A], %[B], [%[w], #" woff "]\n\t"                                     \
  "ldr %[P0], [%[" ptr "]], #4\n\t"                                            \
  "ldr %[P1], [%[" ptr "]]\n\t" first                                          \
  "smlabb %[a0], %[P1], %[B], %[a0]\n\t"                                       \
  "smlatb %[a1], %[P0], %[A], %[a1]\n\t"
#define MIXQ_DW_FIRST1 "smuad %[a0], %[P0], %[A]\n\tsmuadx %[a1], %[P1], %[B]\n\t"
#define MIXQ_DW_NEXT1 "smlad %[a0], %[P0], %[A], %[a0]\n\tsmladx %[a1], %[P1], %[B], %[a1]\n\t"
#define MIXQ_DW_ROW2(ptr, woff, first)                                          \
  "ldrd %[A], %[B], [%[w], #" woff "]\n\t"                                     \
  "ldr %[P0], [%[" ptr "]], #8\n\t"                                            \
  "ldr %[P1], [%[" ptr "], #-4]\n\t" first                                     \
  "ldr %[P0], [%[" ptr "]]\n\t"                 /* the third word, lanes 4, 5 */ \
  "smlabb %[a0], %[P1], %[B], %[a0]\n\t"                                       \
  "smlabb %[a1], %[P0], %[B], %[a1]\n\t"
#define MIXQ_DW_FIRST2 "smuad %[a0], %[P0], %[A]\n\tsmuad %[a1], %[P1], %[A]\n\t"
#define MIXQ_DW_NEXT2 "smlad %[a0], %[P0], %[A], %[a0]\n\tsmlad %[a1], %[P1], %[A], %[a1]\n\t"
/* y = USAT((acc * m + bias) >> 32 >> t) for both accumulators, stored at out and out + step */
#define MIXQ_DW_OUT(sat)                                                         \
  "ldrd %[A], %[B], [%[w], #32]\n\t"                                           \
  "ldrd %[P0], %[P1], [%[w], #24]\n\t"                                         \
  "smlal %[P0], %[P1], %[a0], %[A]\n\t"                                        \
  "asr %[P1], %[P1], %[B]\n\t"                                                 \
  "usat %[P1], #" sat ", %[P1]\n\t"                                            \
  "strb %[P1], [%[out]]\n\t"                                                   \
  "ldrd %[P0], %[P1], [%[w], #24]\n\t"                                         \
  "smlal %[P0], %[P1], %[a1], %[A]\n\t"                                        \
  "asr %[P1], %[P1], %[B]\n\t"                                                 \
  "usat %[P1], #" sat ", %[P1]\n\t"                                            \
  "strb %[P1], [%[out], %[step]]\n\t"                                          \
  "add %[out], %[out], %[step], lsl #1\n\t"                                    \
  "cmp %[out], %[end]\n\t"                                                     \
  "bne 1b\n\t"
#define MIXQ_DW_OPERANDS                                                                     \
  : [p0] "+r"(r0), [p1] "+r"(r1), [p2] "+r"(r2), [out] "+r"(out), [A] "=&r"(A), [B] "=&r"(B), \
    [P0] "=&r"(P0), [P1] "=&r"(P1), [a0] "=&r"(a0), [a1] "=&r"(a1)                            \
  : [w] "r"(w), [end] "r"(end), [step] "r"(step)                                             \
  : "cc", "memory"
#define MIXQ_DW_ASM(row, first, next, sat) \
  __asm__ volatile("1:\n\t" row("p0", "0", first) row("p1", "8", next) \
                   row("p2", "16", next) MIXQ_DW_OUT(sat) MIXQ_DW_OPERANDS)

/* Outputs 0 .. 2 * pairs - 1 of one row of one channel: unsigned full-range codes of ubits
 * (8, 4 or 2), shift >= 32; codes at out + x * step. */
static void mixq_dw_row_asm(const int16_t *r0, const int16_t *r1, const int16_t *r2,
                            const uint32_t *w, uint8_t *out, int32_t step, int32_t pairs,
                            int32_t stride, int32_t ubits) {
  uint8_t *const end = out + 2 * pairs * step;
  uint32_t A, B, P0, P1;
  int32_t a0, a1;
  if (stride == 1) {
    if (ubits == 8) MIXQ_DW_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "8");
    else if (ubits == 4) MIXQ_DW_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "4");
    else MIXQ_DW_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "2");
  } else {
    if (ubits == 8) MIXQ_DW_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "8");
    else if (ubits == 4) MIXQ_DW_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "4");
    else MIXQ_DW_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "2");
  }
}
#endif

/* mixq_dsp_pack_codes out of line: once per group of codes, not worth its size in every copy */
__attribute__((noinline)) static void mixq_pack_codes_call(const uint8_t *codes, int32_t n,
                                                           int32_t bits, uint8_t *out) {
  mixq_dsp_pack_codes(codes, n, bits, out);
}

void mixq_dwconv3x3_dsp(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch) {
  const mixq_dw_layout_t l = mixq_dw_layout(p);
  uint32_t *prm = (uint32_t *)(void *)scratch;
  int16_t *ring = (int16_t *)(void *)(scratch + l.ring_off);
  uint8_t *stage = scratch + l.stage_off;
  const int32_t c_all = p->in_c, rl = l.row_lanes, out_w = p->out_w;
  const int32_t ob = p->out_bits, opb = mixq_row_bytes(c_all, ob);
  const int32_t ubits =
      (!p->out_signed && p->act_min == 0 && p->act_max == (1 << ob) - 1) ? ob : 0;
  (void)ubits; /* only the assembly path uses it */
  for (int32_t c0 = 0; c0 < c_all; c0 += l.chunk) {
    const int32_t n = c_all - c0 < l.chunk ? c_all - c0 : l.chunk;
    const int32_t slot_lanes = n * rl;
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* input row in each ring slot */
    mixq_dw_params(p, c0, n, prm);
    memset(ring, 0, (size_t)(3 * slot_lanes) * 2); /* padding lanes, zero for the whole chunk */
    for (int32_t oy = 0; oy < p->out_h; oy++) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      int16_t *rows[3];
      for (int32_t k = 0; k < 3; k++) {
        const int32_t iy = iy0 + k, slot = ((iy % 3) + 3) % 3;
        rows[k] = ring + slot * slot_lanes;
        if (held[slot] != iy) {
          mixq_dw_fill(p, input, iy, c0, n, rows[k], rl);
          held[slot] = iy;
        }
      }
      uint8_t *out_row = output + oy * out_w * opb;
      for (int32_t ch = 0; ch < n; ch++) {
        const uint32_t *w = prm + ch * MIXQ_DW_PARAM;
        const int16_t *r[3] = {rows[0] + ch * rl, rows[1] + ch * rl, rows[2] + ch * rl};
        uint8_t *dst = ob == 8 ? out_row + c0 + ch : stage + ch;
        const int32_t step = ob == 8 ? opb : l.chunk;
        int32_t x0 = 0;
#if defined(__ARM_FEATURE_DSP)
        if (ubits && (int32_t)w[10] >= 32 && out_w >= 2) {
          x0 = out_w / 2 * 2;
          mixq_dw_row_asm(r[0], r[1], r[2], w, dst, step, out_w / 2, p->stride_w, ubits);
        }
#endif
        mixq_dw_row_c(p, r, w, x0, dst, step);
      }
      if (ob != 8) { /* staged codes stage[x * chunk + ch] -> packed pixels */
        for (int32_t x = 0; x < out_w; x++) {
          mixq_pack_codes_call(stage + x * l.chunk, n, ob, out_row + x * opb + c0 * ob / 8);
        }
      }
    }
  }
}
