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
 * shift >= 32 and, when every channel of a chunk qualifies, it walks all channels of the chunk
 * in one asm block (the per-channel pointer steps are stored with the channel's parameters);
 * every other case (and the host build) runs the C twin. Sub-byte outputs are staged one code
 * per byte in a permuted order (mixq_dw_slot) that makes one packed output word a few ORs of
 * staged words. */
#include "mixq_dsp.h"

#define MIXQ_DW_CHUNK 16 /* channels per pass; a multiple of 4 keeps packed bytes whole */
/* words per channel: A0 B0 A1 B1 A2 B2, bias lo hi, m, t, shift, then the steps of the chunk
 * loop of the assembly: row pointer step, first output step, output span, more channels, - */
#define MIXQ_DW_PARAM 16

typedef struct {
  int32_t chunk, row_lanes, stage_step, stage_bytes;
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
  /* staged codes per output pixel: whole packed words (32 / out_bits codes) */
  l.stage_step = p->out_bits == 8 ? 0 : (l.chunk * p->out_bits + 31) / 32 * (32 / p->out_bits);
  l.stage_bytes = (p->out_w * l.stage_step + 7) / 8 * 8;
  l.ring_off = l.chunk * MIXQ_DW_PARAM * 4;
  l.stage_off = l.ring_off + (3 * l.chunk * l.row_lanes * 2 + 7) / 8 * 8;
  l.total = l.stage_off + l.stage_bytes;
  return l;
}

int32_t mixq_dwconv3x3_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return mixq_dw_layout(p).total;
}

MIXQ_INLINE void mixq_dw_put(int16_t *d, uint32_t pair) { memcpy(d, &pair, 4); }

/* Staging position of channel ch (bits 4 or 2, per = 8 / bits codes per byte, g = 32 / bits per
 * word): channel per * j + k of a word of channels goes to byte 4 * k + j, so that the packed
 * word is OR over k of (staged word k) << (k * bits). */
MIXQ_INLINE int32_t mixq_dw_slot(int32_t ch, int32_t bits) {
  const int32_t lp = bits == 4 ? 1 : 2, g = 4 << lp; /* per = 1 << lp */
  return (ch & -g) + (ch & ((1 << lp) - 1)) * 4 + ((ch & (g - 1)) >> lp);
}


/* Transpose the pixels of one input row into the channel rows (d: lane of pixel 0 of channel
 * 0, rl lanes per channel row), two pixels at a time into 32-bit lane pairs. 8-bit: per word of
 * codes UXTB16 gives two channels of one pixel, PKHBT / PKHTB pair them with the next pixel.
 * 4-, 2-bit: PKHBT / PKHTB first pair the low (high) halfwords of the two pixels' words, then
 * one AND with a shifted operand per channel gives (code at x, code at x + 1). Whole words
 * first, then the chunk's last codes and the last pixel of an odd row one by one. */
MIXQ_INLINE void mixq_dw_fill_bits(const uint8_t *src, int32_t px_bytes, int32_t in_w,
                                   int32_t n, int16_t *d, int32_t rl, int32_t bits) {
  const int32_t per = 32 / bits, full = n / per;
  const int32_t pairs = in_w / 2;
  /* the mask in a register: then AND takes the shifted word as its second operand (one
   * instruction per lane pair instead of LSR + AND with an immediate) */
  const uint32_t mask = mixq_opaque(bits == 4 ? 0x000F000Fu : 0x00030003u);
  for (int32_t g = 0; g < (bits == 8 ? full : 0); g++) { /* 8-bit */
    const uint8_t *s = src + 4 * g;
    int16_t *dg = d + g * per * rl;
    for (int32_t x = 0; x < pairs; x++, s += 2 * px_bytes, dg += 2) {
      const uint32_t v0 = mixq_dsp_load32(s), v1 = mixq_dsp_load32(s + px_bytes);
      const uint32_t e0 = mixq_uxtb16(v0), e1 = mixq_uxtb16(v1);          /* (c0, c2) */
      const uint32_t o0 = mixq_uxtb16_ror8(v0), o1 = mixq_uxtb16_ror8(v1); /* (c1, c3) */
      mixq_dw_put(dg, mixq_pkhbt16(e0, e1));
      mixq_dw_put(dg + rl, mixq_pkhbt16(o0, o1));
      mixq_dw_put(dg + 2 * rl, mixq_pkhtb16(e0, e1));
      mixq_dw_put(dg + 3 * rl, mixq_pkhtb16(o0, o1));
    }
  }
  /* 4-, 2-bit: codes 0 .. half - 1 (lo) and half .. per - 1 (hi) of pixel x | pixel x + 1 << 16
   * (PKHBT / PKHTB), one AND per channel; one pass per 8 channels, writing two groups of four
   * channel rows through two base pointers and three shared offsets (no spills). */
  for (int32_t g = 0; g < (bits == 8 ? 0 : full); g++) {
    for (int32_t part = 0; part < per / 8; part++) {
      const uint8_t *s = src + 4 * g;
      int16_t *da = d + (g * per + 8 * part) * rl, *db = da + 4 * rl;
#if defined(__GNUC__)
      __asm__("" : "+r"(db)); /* two bases, not da + 4 * rl with a fourth offset */
#endif
      for (int32_t x = 0; x < pairs; x++, s += 2 * px_bytes, da += 2, db += 2) {
        const uint32_t v0 = mixq_dsp_load32(s), v1 = mixq_dsp_load32(s + px_bytes);
        const uint32_t u = part == 0 ? mixq_pkhbt16(v0, v1) : mixq_pkhtb16(v0, v1);
        if (bits == 4) {
          const uint32_t h = mixq_pkhtb16(v0, v1);
          for (int32_t k = 0; k < 4; k++) {
            mixq_dw_put(da + k * rl, (u >> (4 * k)) & mask);
            mixq_dw_put(db + k * rl, (h >> (4 * k)) & mask);
          }
        } else {
          for (int32_t k = 0; k < 4; k++) {
            mixq_dw_put(da + k * rl, (u >> (2 * k)) & mask);
            mixq_dw_put(db + k * rl, (u >> (2 * k + 8)) & mask);
          }
        }
      }
    }
  }
  /* channels past the whole words, then the last pixel of an odd row */
  const int32_t cw = full * per;
  if (cw < n) {
    for (int32_t x = 0; x < in_w; x++) {
      for (int32_t ch = cw; ch < n; ch++) {
        d[ch * rl + x] = (int16_t)mixq_load_code(src + x * px_bytes, ch, bits, 0);
      }
    }
  }
  if (in_w & 1) {
    for (int32_t ch = 0; ch < cw; ch++) {
      d[ch * rl + in_w - 1] = (int16_t)mixq_load_code(src + (in_w - 1) * px_bytes, ch, bits, 0);
    }
  }
}

/* Transpose input row iy, channels c0 .. c0 + n - 1, into the data lanes of n int16 rows of rl
 * lanes (the padding lanes stay zero from the chunk's start; rows outside the input are zero).
 * Out of line, once per row: inlined, its loops spill registers. */
__attribute__((noinline)) static void mixq_dw_fill(const mixq_conv_params_t *p,
                                                   const uint8_t *input, int32_t iy, int32_t c0,
                                                   int32_t n, int16_t *rows, int32_t rl) {
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
 * t = shift - 32 and shift, then the steps of the chunk loop of the assembly: row pointer step
 * (row_step), first output of the next channel minus this channel's (out_step(ch)), output
 * span of one channel row and 1 except on the last channel. Returns 1 when every channel has
 * shift >= 32 (the assembly's requantization). */
static int32_t mixq_dw_params(const mixq_conv_params_t *p, int32_t c0, int32_t n, uint32_t *prm,
                              int32_t row_step, int32_t span) {
  const int32_t wb = p->w_bits, row = mixq_row_bytes(p->in_c, wb), ob = p->out_bits;
  int32_t fast = 1;
  for (int32_t ch = 0; ch < n; ch++, prm += MIXQ_DW_PARAM) {
    const int32_t c = c0 + ch;
    int64_t b = p->bias[c];
    int32_t sh = p->shift[c], scale = 1;
    /* shift < 32: scale the weights and the bias by 2^k, k = 32 - shift, when that stays exact
     * (widened weights inside int16, bias inside int64) so the fast path applies:
     * (acc * m + b) >> s == ((acc * 2^k) * m + b * 2^k) >> (s + k). */
    const int32_t k = 32 - sh, wmax = wb == 8 ? 128 : 8;
    if (k > 0 && (wmax << k) <= 32767 && b < ((int64_t)1 << (62 - k)) &&
        b > -((int64_t)1 << (62 - k))) {
      scale = 1 << k;
      b *= (int64_t)1 << k;
      sh = 32;
    }
    /* the 9 codes of channel c (same byte and bit position in every tap row), sign-extended
     * by shifting the field to the top of a word, times the scale */
    const uint8_t *wp = p->weight + (c * wb >> 3);
    const int32_t up = 32 - wb - (c * wb & 7);
    uint32_t wv[9];
    for (int32_t i = 0; i < 9; i++) {
      wv[i] = (uint16_t)(((int32_t)((uint32_t)wp[i * row] << up) >> (32 - wb)) * scale);
    }
    for (int32_t r = 0; r < 3; r++) {
      prm[2 * r] = wv[3 * r] | wv[3 * r + 1] << 16;
      prm[2 * r + 1] = wv[3 * r + 2] | wv[3 * r + 1] << 16;
    }
    prm[6] = (uint32_t)(uint64_t)b;
    prm[7] = (uint32_t)((uint64_t)b >> 32);
    prm[8] = (uint32_t)p->multiplier[c];
    prm[9] = (uint32_t)(sh - 32);
    prm[10] = (uint32_t)sh;
    fast &= sh >= 32;
    prm[11] = (uint32_t)row_step;
    prm[12] = ob == 8 ? 1u : (uint32_t)(mixq_dw_slot(ch + 1, ob) - mixq_dw_slot(ch, ob));
    prm[13] = (uint32_t)span;
    prm[14] = ch + 1 < n;
    prm[15] = 0;
  }
  return fast;
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

/* One output row of one channel in C, any output format: codes (their low out_bits bits) at
 * dst + x * step. */
static void mixq_dw_row_c(const mixq_conv_params_t *p, const int16_t *const *rows,
                          const uint32_t *prm, int32_t x0, uint8_t *dst, int32_t step) {
  const int64_t b = (int64_t)((uint64_t)prm[7] << 32 | prm[6]);
  const int32_t mask = (1 << p->out_bits) - 1;
  for (int32_t x = x0; x < p->out_w; x++) {
    const int32_t acc = mixq_dw_acc(rows, prm, x, p->stride_w);
    dst[x * step] = (uint8_t)(mixq_dsp_requant(acc, b, (int32_t)prm[8], (int32_t)prm[10],
                                               p->act_min, p->act_max) & mask);
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
/* the same row loop for every channel of a chunk, stepping with words 11 .. 14 of each
 * channel's parameters (mixq_dw_params) */
#define MIXQ_DW_NEXT_CHANNEL                                                     \
  "ldr %[P0], [%[w], #44]\n\t"                                                 \
  "add %[p0], %[p0], %[P0]\n\t"                                                \
  "add %[p1], %[p1], %[P0]\n\t"                                                \
  "add %[p2], %[p2], %[P0]\n\t"                                                \
  "ldrd %[P0], %[P1], [%[w], #48]\n\t"                                         \
  "add %[end], %[end], %[P0]\n\t"                                              \
  "sub %[out], %[end], %[P1]\n\t"                                              \
  "ldr %[P0], [%[w], #56]\n\t"                                                 \
  "add %[w], %[w], #64\n\t"                                                    \
  "cmp %[P0], #0\n\t"                                                          \
  "bne 2b\n\t"
#define MIXQ_DW_CHUNK_OPERANDS                                                               \
  : [p0] "+r"(r0), [p1] "+r"(r1), [p2] "+r"(r2), [out] "+r"(out), [A] "=&r"(A), [B] "=&r"(B), \
    [P0] "=&r"(P0), [P1] "=&r"(P1), [a0] "=&r"(a0), [a1] "=&r"(a1), [w] "+r"(w),             \
    [end] "+r"(end)                                                                          \
  : [step] "r"(step)                                                                         \
  : "cc", "memory"
#define MIXQ_DW_CHUNK_ASM(row, first, next, sat)                                           \
  __asm__ volatile("2:\n\t1:\n\t" row("p0", "0", first) row("p1", "8", next)           \
                   row("p2", "16", next) MIXQ_DW_OUT(sat) MIXQ_DW_NEXT_CHANNEL           \
                   MIXQ_DW_CHUNK_OPERANDS)

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

/* Outputs 0 .. 2 * pairs - 1 of one row of every channel of a chunk (w: the chunk's
 * parameters, steps included; r0..r2, out: channel 0; span = 2 * pairs * step). */
static void mixq_dw_chunk_asm(const int16_t *r0, const int16_t *r1, const int16_t *r2,
                              const uint32_t *w, uint8_t *out, int32_t step, int32_t span,
                              int32_t stride, int32_t ubits) {
  uint8_t *end = out + span;
  uint32_t A, B, P0, P1;
  int32_t a0, a1;
  if (stride == 1) {
    if (ubits == 8) MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "8");
    else if (ubits == 4) MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "4");
    else MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1, "2");
  } else {
    if (ubits == 8) MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "8");
    else if (ubits == 4) MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "4");
    else MIXQ_DW_CHUNK_ASM(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2, "2");
  }
}
#endif

/* x | y << k (k a constant): one ORR with a shifted operand (gcc 12 reassociates chains of
 * them into an extra shift) */
#if defined(__ARM_FEATURE_DSP)
#define mixq_dw_orr_lsl(x, y, k)                                                 \
  __extension__({                                                               \
    uint32_t r_;                                                                \
    __asm__("orr %0, %1, %2, lsl #" #k : "=r"(r_) : "r"(x), "r"(y));           \
    r_;                                                                         \
  })
#else
#define mixq_dw_orr_lsl(x, y, k) ((x) | (y) << (k))
#endif

/* Packed word i of staged codes s (4-byte aligned): OR of the four (4-bit: two) staged words
 * of its channels shifted by k * bits. */
MIXQ_INLINE uint32_t mixq_dw_pack_word(const uint8_t *s, int32_t i, int32_t bits) {
  const mixq_u32a *q = (const mixq_u32a *)(const void *)s + i * (8 / bits);
  uint32_t word = q[0];
  word |= q[1] << bits;
  if (bits == 2) {
    word |= q[2] << 4;
    word |= q[3] << 6;
  }
  return word;
}

/* Pack one output row of staged codes (stage[x * sstep + mixq_dw_slot(ch)], ch < n, empty
 * slots zero) into packed pixels at out + x * opb; a partial last word is masked and stored
 * byte by byte. Called out of line, once per row (mixq_dw_pack_row4 / 2). */
MIXQ_INLINE void mixq_dw_pack_row(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w,
                                  int32_t bits, uint8_t *out, int32_t opb) {
  const int32_t g = 32 / bits, full = n / g, tail = n - full * g;
  if (n == MIXQ_DW_CHUNK) { /* whole chunk: 16 staged codes (sstep) per pixel, 2 or 1 words */
    const mixq_u32a *q = (const mixq_u32a *)(const void *)stage;
    for (int32_t x = 0; x < w; x++, out += opb) {
      uint32_t a, b, c, d;
      MIXQ_LDRD(a, b, q);
      MIXQ_LDRD(c, d, q);
      if (bits == 4) {
        a = mixq_dw_orr_lsl(a, b, 4);
        c = mixq_dw_orr_lsl(c, d, 4);
        memcpy(out, &a, 4);
        memcpy(out + 4, &c, 4);
      } else {
        a = mixq_dw_orr_lsl(a, b, 2);
        a = mixq_dw_orr_lsl(a, c, 4);
        a = mixq_dw_orr_lsl(a, d, 6);
        memcpy(out, &a, 4);
      }
    }
    return;
  }
  for (int32_t x = 0; x < w; x++, stage += sstep, out += opb) {
    for (int32_t i = 0; i < full; i++) {
      const uint32_t word = mixq_dw_pack_word(stage, i, bits);
      memcpy(out + 4 * i, &word, 4);
    }
    if (tail) {
      const uint32_t word = mixq_dw_pack_word(stage, full, bits) & ((1u << (tail * bits)) - 1u);
      for (int32_t b = 0; b < (tail * bits + 7) / 8; b++) {
        out[4 * full + b] = (uint8_t)(word >> (8 * b));
      }
    }
  }
}

__attribute__((noinline)) static void mixq_dw_pack_row4(const uint8_t *stage, int32_t sstep,
                                                        int32_t n, int32_t w, uint8_t *out,
                                                        int32_t opb) {
  mixq_dw_pack_row(stage, sstep, n, w, 4, out, opb);
}
__attribute__((noinline)) static void mixq_dw_pack_row2(const uint8_t *stage, int32_t sstep,
                                                        int32_t n, int32_t w, uint8_t *out,
                                                        int32_t opb) {
  mixq_dw_pack_row(stage, sstep, n, w, 2, out, opb);
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
  const int32_t pairs = out_w / 2, step = ob == 8 ? opb : l.stage_step;
  (void)ubits; /* only the assembly path uses it */
  for (int32_t c0 = 0; c0 < c_all; c0 += l.chunk) {
    const int32_t n = c_all - c0 < l.chunk ? c_all - c0 : l.chunk;
    const int32_t slot_lanes = n * rl;
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* input row in each ring slot */
    const int32_t fast = mixq_dw_params(p, c0, n, prm, 2 * rl - 4 * p->stride_w * pairs,
                                        2 * pairs * step) &&
                         ubits && pairs > 0;
    (void)fast; /* only the assembly path uses it */
    memset(ring, 0, (size_t)(3 * slot_lanes) * 2); /* padding lanes, zero for the whole chunk */
    if (ob != 8 && n * ob % 32) memset(stage, 0, (size_t)l.stage_bytes); /* empty slots */
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
      int32_t ch_from = 0; /* channels left to the per-channel loop */
#if defined(__ARM_FEATURE_DSP)
      if (fast) {
        mixq_dw_chunk_asm(rows[0], rows[1], rows[2], prm, ob == 8 ? out_row + c0 : stage, step,
                          2 * pairs * step, p->stride_w, ubits);
        ch_from = out_w & 1 ? 0 : n; /* odd width: the last output of each channel in C */
      }
#endif
      for (int32_t ch = ch_from; ch < n; ch++) {
        const uint32_t *w = prm + ch * MIXQ_DW_PARAM;
        const int16_t *r[3] = {rows[0] + ch * rl, rows[1] + ch * rl, rows[2] + ch * rl};
        uint8_t *dst = ob == 8 ? out_row + c0 + ch : stage + mixq_dw_slot(ch, ob);
        int32_t x0 = 0;
#if defined(__ARM_FEATURE_DSP)
        if (fast) {
          x0 = 2 * pairs;
        } else if (ubits && (int32_t)w[10] >= 32 && pairs > 0) {
          x0 = 2 * pairs;
          mixq_dw_row_asm(r[0], r[1], r[2], w, dst, step, pairs, p->stride_w, ubits);
        }
#endif
        mixq_dw_row_c(p, r, w, x0, dst, step);
      }
      if (ob == 4) mixq_dw_pack_row4(stage, step, n, out_w, out_row + c0 / 2, opb);
      else if (ob == 2) mixq_dw_pack_row2(stage, step, n, out_w, out_row + c0 / 4, opb);
    }
  }
}
