/* mixq_dwconv3x3_dsp: depthwise 3x3 convolution, stride 1 or 2, any zero padding, u8/u4/u2
 * activations, s8/s4/s2/ternary weights, ARMv7E-M DSP (conventions: mixq_dsp.h).
 *
 * Channels are processed in chunks of MIXQ_DW_CHUNK, with a ring of three transposed int16 rows
 * per channel (mixq_dw_dsp.h), so that two horizontally adjacent taps of one channel are one
 * 32-bit word. Per chunk, each
 * channel's nine weights are widened into three pairs A = (w0, w1), B = (w2, w1) per kernel row,
 * next to its requantization constants. Two adjacent outputs then take, per kernel row, two
 * (stride 1) or three (stride 2) word loads and four MACs (stride 1: out[x] = SMLAD(P0, A) +
 * SMLABB(P1, B), out[x + 1] = SMLADX(P1, B) + SMLATB(P0, A)), and one SMLAL each for the
 * requantization. That loop is inline assembly on ARM for unsigned full-range outputs with
 * shift >= 32 and, when every channel of a chunk qualifies, it walks all channels of the chunk
 * in one asm block (the per-channel pointer steps are stored with the channel's parameters);
 * every other case (and the host build) runs the C twin. Sub-byte outputs are staged
 * (mixq_dw_slot) and packed once per row.
 *
 * Tall maps (out_h > out_w, e.g. DS-CNN's 25x5) run transposed (mixq_dw_view): rows are the
 * input's columns and the kernel's taps are transposed, so the per-row costs (the chunk loop's
 * channel steps, an odd row's last output, the fill's odd pixel) are paid out_w times per
 * channel instead of out_h times, and the pair loop runs over the longer side. */
#include "mixq_dw_dsp.h"

#define MIXQ_DW_CHUNK 16 /* channels per pass; a multiple of 4 keeps packed bytes whole */
/* words per channel: A0 B0 A1 B1 A2 B2, bias lo hi, m, t, shift, then the steps of the chunk
 * loop of the assembly: row pointer step, first output step, output span, more channels, - */
#define MIXQ_DW_PARAM 16

/* The layer as the kernel walks it: itself, or transposed (rows and columns, padding, strides
 * swapped; the taps are transposed by mixq_dw_params) when the map is taller than wide. */
static mixq_conv_params_t mixq_dw_view(const mixq_conv_params_t *p) {
  mixq_conv_params_t v = *p;
  if (p->out_h > p->out_w) {
    v.in_h = p->in_w, v.in_w = p->in_h, v.out_h = p->out_w, v.out_w = p->out_h;
    v.stride_h = p->stride_w, v.stride_w = p->stride_h;
    v.pad_top = p->pad_left, v.pad_left = p->pad_top;
  }
  return v;
}

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
  const mixq_conv_params_t v = mixq_dw_view(p);
  return mixq_dw_layout(&v).total;
}

/* Widened weights of four channels from the words of 4 int8 codes of kernel row r's three taps
 * (byte k: channel k * cs of the group at prm): SXTB16 and PKHBT / PKHTB pair the taps of one
 * channel (as mixq_dw_fill pairs pixels) into A_r = (w(r,0), w(r,1)), B_r = (w(r,2), w(r,1)),
 * unscaled, at prm + k * cs * MIXQ_DW_PARAM (prm: the row's A_r word of channel 0). */
MIXQ_INLINE void mixq_dw_widen4(uint32_t v0, uint32_t v1, uint32_t v2, uint32_t *prm,
                                int32_t cs) {
  const int32_t d = cs * MIXQ_DW_PARAM;
  const uint32_t e0 = mixq_sxtb16(v0), e1 = mixq_sxtb16(v1), e2 = mixq_sxtb16(v2);
  const uint32_t o0 = mixq_sxtb16_ror8(v0), o1 = mixq_sxtb16_ror8(v1);
  const uint32_t o2 = mixq_sxtb16_ror8(v2); /* e: bytes 0, 2; o: bytes 1, 3 */
  prm[0] = mixq_pkhbt16(e0, e1);
  prm[1] = mixq_pkhbt16(e2, e1);
  prm[d] = mixq_pkhbt16(o0, o1);
  prm[d + 1] = mixq_pkhbt16(o2, o1);
  prm[2 * d] = mixq_pkhtb16(e0, e1);
  prm[2 * d + 1] = mixq_pkhtb16(e2, e1);
  prm[3 * d] = mixq_pkhtb16(o0, o1);
  prm[3 * d + 1] = mixq_pkhtb16(o2, o1);
}

/* Widened weights (unscaled) of the 32 / wb channels of one word of codes (wp: their first
 * byte in tap 0; tap (r, k) of the walked view at wp + r * rs + k * ks bytes): per kernel row,
 * 8-bit codes go as they are; 4- and 2-bit codes are split into
 * 8 / wb words of one code per byte (the code at bit i * wb of each byte: channels i,
 * i + 8 / wb, ...) and sign-extended per byte ((x ^ s) - s, SSUB8). About 6 instructions per
 * channel and kernel row instead of ~25 code by code. */
static void mixq_dw_widen_word(const uint8_t *wp, int32_t rs, int32_t ks, int32_t wb,
                               uint32_t *prm) {
  const int32_t per = 8 / wb; /* codes per byte */
  const uint32_t mask = wb == 4 ? 0x0F0F0F0Fu : 0x03030303u;
  const uint32_t sgn = wb == 4 ? 0x08080808u : 0x02020202u;
  for (int32_t r = 0; r < 3; r++, wp += rs, prm += 2) {
    const uint32_t v0 = mixq_dsp_load32(wp), v1 = mixq_dsp_load32(wp + ks);
    const uint32_t v2 = mixq_dsp_load32(wp + 2 * ks);
    if (wb == 8) {
      mixq_dw_widen4(v0, v1, v2, prm, 1);
      continue;
    }
    for (int32_t i = 0; i < per; i++) {
      const int32_t sh = i * wb;
      mixq_dw_widen4(mixq_ssub8((v0 >> sh & mask) ^ sgn, sgn),
                     mixq_ssub8((v1 >> sh & mask) ^ sgn, sgn),
                     mixq_ssub8((v2 >> sh & mask) ^ sgn, sgn), prm + i * MIXQ_DW_PARAM, per);
    }
  }
}

/* Per channel c0 + ch: widened weights A_r = (w(r,0), w(r,1)), B_r = (w(r,2), w(r,1)), r = 0..2
 * (reference layout: (ky, kx) rows of in_c codes; w(r, k) is tap (k, r) when tr, the transposed
 * view), then bias (lo, hi), multiplier,
 * t = shift - 32 and shift, then the steps of the chunk loop of the assembly: row pointer step
 * (row_step), first output of the next channel minus this channel's (out_step(ch)), output
 * span of one channel row and 1 except on the last channel. Returns 1 when every channel has
 * shift >= 32 (the assembly's requantization). */
static int32_t mixq_dw_params(const mixq_conv_params_t *p, int32_t c0, int32_t n, uint32_t *prm,
                              int32_t row_step, int32_t span, int32_t tr) {
  const int32_t wb = p->w_bits, row = mixq_row_bytes(p->in_c, wb), ob = p->out_bits;
  const int32_t rs = tr ? row : 3 * row, ks = tr ? 3 * row : row; /* tap (r, k) steps, bytes */
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
    const int32_t g = 32 / wb; /* channels per word of codes; c0 % g == 0 */
    if ((ch & -g) + g <= n) { /* a whole word of channels */
      if ((ch & (g - 1)) == 0) mixq_dw_widen_word(p->weight + (c * wb >> 3), rs, ks, wb, prm);
      for (int32_t i = 0; i < (scale > 1 ? 6 : 0); i++) { /* times the scale, per halfword */
        const uint32_t v = prm[i];
        prm[i] = (uint16_t)((int16_t)v * scale) | (uint32_t)(uint16_t)((int16_t)(v >> 16) * scale)
                                                      << 16;
      }
    } else {
      /* the 9 codes of channel c (same byte and bit position in every tap row), sign-extended
       * by shifting the field to the top of a word, times the scale */
      const uint8_t *wp = p->weight + (c * wb >> 3);
      const int32_t up = 32 - wb - (c * wb & 7);
      uint32_t wv[9];
      for (int32_t i = 0; i < 9; i++) { /* tap (r, k) = (i / 3, i % 3) of the view */
        const uint8_t *q = wp + i / 3 * rs + i % 3 * ks;
        wv[i] = (uint16_t)(((int32_t)((uint32_t)*q << up) >> (32 - wb)) * scale);
      }
      for (int32_t r = 0; r < 3; r++) {
        prm[2 * r] = wv[3 * r] | wv[3 * r + 1] << 16;
        prm[2 * r + 1] = wv[3 * r + 2] | wv[3 * r + 1] << 16;
      }
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
/* the last output of an odd row (x = 2 * pairs, where the pair loop left the pointers: lanes
 * x * stride .. x * stride + 2) */
#define MIXQ_DW_TAIL_ROW(ptr, woff, first)                                      \
  "ldrd %[A], %[B], [%[w], #" woff "]\n\t"                                     \
  "ldr %[P0], [%[" ptr "]]\n\t"                                                \
  "ldr %[P1], [%[" ptr "], #4]\n\t" first                                      \
  "smlabb %[a0], %[P1], %[B], %[a0]\n\t"
#define MIXQ_DW_TAIL(sat)                                                        \
  MIXQ_DW_TAIL_ROW("p0", "0", "smuad %[a0], %[P0], %[A]\n\t")                   \
  MIXQ_DW_TAIL_ROW("p1", "8", "smlad %[a0], %[P0], %[A], %[a0]\n\t")            \
  MIXQ_DW_TAIL_ROW("p2", "16", "smlad %[a0], %[P0], %[A], %[a0]\n\t")           \
  "ldrd %[A], %[B], [%[w], #32]\n\t"                                           \
  "ldrd %[P0], %[P1], [%[w], #24]\n\t"                                         \
  "smlal %[P0], %[P1], %[a0], %[A]\n\t"                                        \
  "asr %[P1], %[P1], %[B]\n\t"                                                 \
  "usat %[P1], #" sat ", %[P1]\n\t"                                            \
  "strb %[P1], [%[out]]\n\t"
#define MIXQ_DW_CHUNK_ASM(row, first, next, sat, tail)                                     \
  __asm__ volatile("2:\n\t1:\n\t" row("p0", "0", first) row("p1", "8", next)           \
                   row("p2", "16", next) MIXQ_DW_OUT(sat) tail MIXQ_DW_NEXT_CHANNEL      \
                   MIXQ_DW_CHUNK_OPERANDS)
/* the chunk loop for unsigned outputs of ubits, with or without the odd row's last output */
#define MIXQ_DW_CHUNK_SAT(row, first, next)                                                 \
  do {                                                                                      \
    if (odd) {                                                                              \
      if (ubits == 8) MIXQ_DW_CHUNK_ASM(row, first, next, "8", MIXQ_DW_TAIL("8"));          \
      else if (ubits == 4) MIXQ_DW_CHUNK_ASM(row, first, next, "4", MIXQ_DW_TAIL("4"));     \
      else MIXQ_DW_CHUNK_ASM(row, first, next, "2", MIXQ_DW_TAIL("2"));                     \
    } else {                                                                                \
      if (ubits == 8) MIXQ_DW_CHUNK_ASM(row, first, next, "8", "");                         \
      else if (ubits == 4) MIXQ_DW_CHUNK_ASM(row, first, next, "4", "");                    \
      else MIXQ_DW_CHUNK_ASM(row, first, next, "2", "");                                    \
    }                                                                                       \
  } while (0)

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

/* Outputs 0 .. 2 * pairs - 1 (and 2 * pairs when odd) of one row of every channel of a chunk
 * (w: the chunk's parameters, steps included; r0..r2, out: channel 0; span = 2 * pairs * step). */
static void mixq_dw_chunk_asm(const int16_t *r0, const int16_t *r1, const int16_t *r2,
                              const uint32_t *w, uint8_t *out, int32_t step, int32_t span,
                              int32_t stride, int32_t ubits, int32_t odd) {
  uint8_t *end = out + span;
  uint32_t A, B, P0, P1;
  int32_t a0, a1;
  if (stride == 1) MIXQ_DW_CHUNK_SAT(MIXQ_DW_ROW1, MIXQ_DW_FIRST1, MIXQ_DW_NEXT1);
  else MIXQ_DW_CHUNK_SAT(MIXQ_DW_ROW2, MIXQ_DW_FIRST2, MIXQ_DW_NEXT2);
}
#endif

void mixq_dwconv3x3_dsp(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch) {
  const mixq_conv_params_t view = mixq_dw_view(p);
  const int32_t tr = view.out_w != p->out_w; /* transposed */
  p = &view;
  const mixq_dw_layout_t l = mixq_dw_layout(p);
  uint32_t *prm = (uint32_t *)(void *)scratch;
  int16_t *ring = (int16_t *)(void *)(scratch + l.ring_off);
  uint8_t *stage = scratch + l.stage_off;
  const int32_t c_all = p->in_c, rl = l.row_lanes, out_w = p->out_w;
  const int32_t ob = p->out_bits, opb = mixq_row_bytes(c_all, ob);
  const int32_t ipb = mixq_row_bytes(c_all, p->in_bits);
  /* bytes between pixels (x) and rows (y) of the input and the output, in the view */
  const int32_t in_xs = tr ? p->in_h * ipb : ipb, in_ys = tr ? ipb : p->in_w * ipb;
  const int32_t out_xs = tr ? p->out_h * opb : opb, out_ys = tr ? opb : out_w * opb;
  const int32_t ubits =
      (!p->out_signed && p->act_min == 0 && p->act_max == (1 << ob) - 1) ? ob : 0;
  const int32_t pairs = out_w / 2, step = ob == 8 ? out_xs : l.stage_step;
  (void)ubits; /* only the assembly path uses it */
  int32_t zeroed = 0; /* channels per ring slot when the padding was zeroed */
  for (int32_t c0 = 0; c0 < c_all; c0 += l.chunk) {
    const int32_t n = c_all - c0 < l.chunk ? c_all - c0 : l.chunk;
    const int32_t slot_lanes = n * rl;
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* input row in each ring slot */
    const int32_t fast = mixq_dw_params(p, c0, n, prm, 2 * rl - 4 * p->stride_w * pairs,
                                        2 * pairs * step, tr) &&
                         ubits && pairs > 0;
    (void)fast; /* only the assembly path uses it */
    if (n != zeroed) { /* the fills write data lanes only: a chunk of the same n keeps these */
      memset(ring, 0, (size_t)(3 * slot_lanes) * 2); /* padding lanes */
      if (ob != 8 && n * ob % 32) memset(stage, 0, (size_t)l.stage_bytes); /* empty slots */
      zeroed = n;
    }
    for (int32_t oy = 0; oy < p->out_h; oy++) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      int16_t *rows[3];
      for (int32_t k = 0; k < 3; k++) {
        const int32_t iy = iy0 + k, slot = ((iy % 3) + 3) % 3;
        rows[k] = ring + slot * slot_lanes;
        if (held[slot] != iy) {
          mixq_dw_fill_steps(p, input, iy, c0, n, rows[k], rl, in_xs, in_ys);
          held[slot] = iy;
        }
      }
      uint8_t *out_row = output + oy * out_ys;
      int32_t ch_from = 0; /* channels left to the per-channel loop */
#if defined(__ARM_FEATURE_DSP)
      if (fast) {
        mixq_dw_chunk_asm(rows[0], rows[1], rows[2], prm, ob == 8 ? out_row + c0 : stage, step,
                          2 * pairs * step, p->stride_w, ubits, out_w & 1);
        ch_from = n;
      }
#endif
      for (int32_t ch = ch_from; ch < n; ch++) {
        const uint32_t *w = prm + ch * MIXQ_DW_PARAM;
        const int16_t *r[3] = {rows[0] + ch * rl, rows[1] + ch * rl, rows[2] + ch * rl};
        uint8_t *dst = ob == 8 ? out_row + c0 + ch : stage + mixq_dw_slot(ch, ob);
        int32_t x0 = 0;
#if defined(__ARM_FEATURE_DSP)
        if (ubits && (int32_t)w[10] >= 32 && pairs > 0) {
          x0 = 2 * pairs;
          mixq_dw_row_asm(r[0], r[1], r[2], w, dst, step, pairs, p->stride_w, ubits);
        }
#endif
        mixq_dw_row_c(p, r, w, x0, dst, step);
      }
      if (ob == 4) mixq_dw_pack_row4(stage, step, n, out_w, out_row + c0 / 2, out_xs);
      else if (ob == 2) mixq_dw_pack_row2(stage, step, n, out_w, out_row + c0 / 4, out_xs);
    }
  }
}
