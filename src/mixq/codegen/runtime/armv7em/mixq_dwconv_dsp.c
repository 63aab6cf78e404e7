/* mixq_dwconv_dsp: depthwise convolution of any kernel size (k_h x k_w, k_h <= MIXQ_DWK_MAX_KH)
 * and stride, any zero padding, u8/u4/u2 activations, s8/s4/s2/ternary weights, ARMv7E-M DSP
 * (conventions: mixq_dsp.h; the ring of transposed rows: mixq_dw_dsp.h).
 *
 * Channels are processed in chunks of MIXQ_DWK_CHUNK(p) with a ring of k_h transposed int16 rows
 * per channel. Once per chunk, each channel's weights are widened into k_h rows of
 * pairs = ceil(k_w / 2) int16 pairs (w(r, 2j), w(r, 2j + 1)), the last pair of an odd k_w padded
 * with 0, next to its requantization constants. Output x then takes, per kernel row, `pairs`
 * SMLADs of the 32-bit words at lanes x * stride + 2j (an unaligned LDR when x * stride is odd;
 * ARMv7-M allows it). Four outputs share each weight word and, at stride 1, their overlapping
 * word loads (2 * pairs + 2 loads per row instead of 4 * pairs), and are requantized by one
 * SMLAL each (inline assembly for unsigned full-range outputs with shift >= 32, else C); square
 * 5x5 and 7x7 kernels at stride 1 and 2 have unrolled loops, the others a generic one. */
#include "mixq_dw_dsp.h"

/* channels per pass: 8 for 8-bit activations, 16 when the input or output codes are sub-byte
 * (whole words of 2-bit codes for the transposition and the packing); multiples of 4 keep
 * packed bytes whole */
#define MIXQ_DWK_CHUNK(p) ((p)->in_bits < 8 || (p)->out_bits < 8 ? 16 : 8)

typedef struct {
  int32_t chunk, pairs, prm_words, row_lanes, stage_step, stage_bytes;
  int32_t ring_off, stage_off, total;
} mixq_dwk_layout_t;

/* Scratch layout (offsets multiples of 8; mirrored by mixq.codegen.kernels_armv7em_dw):
 * per channel of a chunk prm_words words (widened weights, bias lo, hi, multiplier, shift - 32,
 * shift),
 * the ring (k_h rows of row_lanes int16 lanes per channel) and, for sub-byte outputs, the
 * staging row (whole packed words of codes per pixel, one byte per code). */
static mixq_dwk_layout_t mixq_dwk_layout(const mixq_conv_params_t *p) {
  mixq_dwk_layout_t l;
  l.pairs = (p->k_w + 1) / 2;
  const int32_t read = (p->out_w - 1) * p->stride_w + 2 * l.pairs; /* lanes the words cover */
  int32_t lanes = p->pad_left + p->in_w;
  if (read > lanes) lanes = read;
  l.chunk = p->in_c < MIXQ_DWK_CHUNK(p) ? p->in_c : MIXQ_DWK_CHUNK(p);
  l.row_lanes = (lanes + 1) / 2 * 2;
  l.prm_words = (p->k_h * l.pairs + 6) / 2 * 2;
  l.stage_step = p->out_bits == 8 ? 0 : (l.chunk * p->out_bits + 31) / 32 * (32 / p->out_bits);
  l.stage_bytes = (p->out_w * l.stage_step + 7) / 8 * 8;
  l.ring_off = (l.chunk * l.prm_words * 4 + 7) / 8 * 8;
  l.stage_off = l.ring_off + (p->k_h * l.chunk * l.row_lanes * 2 + 7) / 8 * 8;
  l.total = l.stage_off + l.stage_bytes;
  return l;
}

int32_t mixq_dwconv_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return mixq_dwk_layout(p).total;
}

/* Widened weights and requantization constants of channels c0 .. c0 + n - 1 (reference weight
 * layout: (k_h, k_w) rows of in_c codes; a code is sign-extended by shifting its field to the
 * top of a word). */
static void mixq_dwk_params(const mixq_conv_params_t *p, int32_t c0, int32_t n,
                            const mixq_dwk_layout_t *l, uint32_t *prm) {
  const int32_t wb = p->w_bits, row = mixq_row_bytes(p->in_c, wb), kw = p->k_w;
  for (int32_t ch = 0; ch < n; ch++, prm += l->prm_words) {
    const int32_t c = c0 + ch;
    const uint8_t *wp = p->weight + (c * wb >> 3);
    const int32_t up = 32 - wb - (c * wb & 7);
    uint32_t *q = prm;
    for (int32_t r = 0; r < p->k_h; r++) {
      for (int32_t j = 0; j < 2 * l->pairs; j += 2) {
        uint32_t pair = 0;
        for (int32_t e = 0; e < 2 && j + e < kw; e++) {
          const int32_t t = r * kw + j + e;
          pair |= (uint32_t)(uint16_t)((int32_t)((uint32_t)wp[t * row] << up) >> (32 - wb))
                  << (16 * e);
        }
        *q++ = pair;
      }
    }
    q[0] = (uint32_t)(uint64_t)p->bias[c];
    q[1] = (uint32_t)((uint64_t)p->bias[c] >> 32);
    q[2] = (uint32_t)p->multiplier[c];
    q[3] = (uint32_t)(p->shift[c] - 32);
    q[4] = (uint32_t)p->shift[c];
  }
}

/* Accumulators of outputs x .. x + B - 1 (B = 1 or 4) of one channel: off is the lane of
 * output x in each ring row, P weight pairs per kernel row, stride S lanes. */
MIXQ_INLINE void mixq_dwk_acc(const int16_t *const *rows, int32_t kh, int32_t off,
                              const uint32_t *w, int32_t P, int32_t S, int32_t B, int32_t *acc) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t r = 0; r < kh; r++, w += P) {
    const int16_t *q = rows[r] + off;
    for (int32_t j = 0; j < P; j++) {
      const uint32_t wv = w[j];
      a0 = mixq_smlad(mixq_dsp_load32(q + 2 * j), wv, a0);
      if (B == 4) {
        a1 = mixq_smlad(mixq_dsp_load32(q + S + 2 * j), wv, a1);
        a2 = mixq_smlad(mixq_dsp_load32(q + 2 * S + 2 * j), wv, a2);
        a3 = mixq_smlad(mixq_dsp_load32(q + 3 * S + 2 * j), wv, a3);
      }
    }
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

#if defined(__ARM_FEATURE_DSP)
/* y = USAT((acc * m + bias) >> 32 >> t) of four accumulators, stored at dst + k * step, dst
 * moved past them (rq: bias lo, hi, m, t) */
#define MIXQ_DWK_OUT1(acc, at, sat)                                             \
  "ldrd %[lo], %[hi], [%[rq]]\n\t"                                             \
  "smlal %[lo], %[hi], %[" acc "], %[m]\n\t"                                   \
  "asr %[hi], %[hi], %[t]\n\t"                                                 \
  "usat %[hi], #" sat ", %[hi]\n\t"                                           \
  "strb %[hi], " at "\n\t"
#define MIXQ_DWK_OUT4(sat)                                                      \
  __asm__ volatile("ldrd %[m], %[t], [%[rq], #8]\n\t"                          \
                   MIXQ_DWK_OUT1("a0", "[%[dst]]", sat)                        \
                   MIXQ_DWK_OUT1("a1", "[%[dst], %[step]]", sat)               \
                   "add %[dst], %[dst], %[step], lsl #1\n\t"                   \
                   MIXQ_DWK_OUT1("a2", "[%[dst]]", sat)                        \
                   MIXQ_DWK_OUT1("a3", "[%[dst], %[step]]", sat)               \
                   "add %[dst], %[dst], %[step], lsl #1\n\t"                   \
                   : [dst] "+r"(dst), [lo] "=&r"(lo), [hi] "=&r"(hi), [m] "=&r"(m),         \
                     [t] "=&r"(t)                                                           \
                   : [a0] "r"(acc[0]), [a1] "r"(acc[1]), [a2] "r"(acc[2]), [a3] "r"(acc[3]), \
                     [rq] "r"(rq), [step] "r"(step)                                         \
                   : "memory")
MIXQ_INLINE uint8_t *mixq_dwk_out4(const int32_t *acc, const uint32_t *rq, uint8_t *dst,
                                   int32_t step, int32_t ubits) {
  uint32_t lo, hi, m, t;
  if (ubits == 8) MIXQ_DWK_OUT4("8");
  else if (ubits == 4) MIXQ_DWK_OUT4("4");
  else MIXQ_DWK_OUT4("2");
  return dst;
}
#endif

/* Requantize and store `count` accumulators at dst + k * step (any output format, C; out of
 * line: the common case is the assembly) */
static uint8_t *mixq_dwk_out_c(const mixq_conv_params_t *p, const int32_t *acc, int32_t count,
                               const uint32_t *rq, uint8_t *dst, int32_t step) {
  const int64_t bias = (int64_t)((uint64_t)rq[1] << 32 | rq[0]);
  const int32_t mask = (1 << p->out_bits) - 1;
  for (int32_t k = 0; k < count; k++, dst += step) {
    dst[0] = (uint8_t)(mixq_dsp_requant(acc[k], bias, (int32_t)rq[2], (int32_t)rq[4],
                                        p->act_min, p->act_max) & mask);
  }
  return dst;
}

/* One output row of one channel: codes (their low out_bits bits) at dst + x * step; ubits:
 * the output width when the outputs are unsigned full-range codes (the assembly's
 * requantization when shift >= 32), else 0. */
MIXQ_INLINE void mixq_dwk_row(const mixq_conv_params_t *p, const int16_t *const *rows,
                              int32_t off, const uint32_t *w, uint8_t *dst, int32_t step,
                              int32_t ubits, int32_t kh, int32_t P, int32_t S) {
  const uint32_t *rq = w + kh * P;
  const int32_t out_w = p->out_w;
  int32_t acc[4];
  int32_t x = 0;
  if (!(ubits && (int32_t)rq[4] >= 32)) ubits = 0;
  for (; x + 4 <= out_w; x += 4) {
    mixq_dwk_acc(rows, kh, off + x * S, w, P, S, 4, acc);
#if defined(__ARM_FEATURE_DSP)
    if (ubits) {
      dst = mixq_dwk_out4(acc, rq, dst, step, ubits);
      continue;
    }
#endif
    dst = mixq_dwk_out_c(p, acc, 4, rq, dst, step);
  }
  for (; x < out_w; x++) {
    mixq_dwk_acc(rows, kh, off + x * S, w, P, S, 1, acc);
    dst = mixq_dwk_out_c(p, acc, 1, rq, dst, step);
  }
}

/* the unrolled rows: square K x K kernels, stride S (3x3 layers run mixq_dwconv3x3_dsp) */
#define MIXQ_DWK_ROW(K, S)                                                                   \
  static void mixq_dwk_row_##K##_##S(const mixq_conv_params_t *p, const int16_t *const *rows, \
                                     int32_t off, const uint32_t *w, uint8_t *dst,            \
                                     int32_t step, int32_t ubits) {                           \
    mixq_dwk_row(p, rows, off, w, dst, step, ubits, K, (K + 1) / 2, S);                      \
  }
MIXQ_DWK_ROW(5, 1)
MIXQ_DWK_ROW(5, 2)
MIXQ_DWK_ROW(7, 1)
MIXQ_DWK_ROW(7, 2)

static void mixq_dwk_row_any(const mixq_conv_params_t *p, const int16_t *const *rows,
                             int32_t off, const uint32_t *w, uint8_t *dst, int32_t step,
                             int32_t ubits) {
  mixq_dwk_row(p, rows, off, w, dst, step, ubits, p->k_h, (p->k_w + 1) / 2, p->stride_w);
}

/* Which row loop runs layer p: 2 * (K / 2 - 2) + S - 1 for a square K x K kernel, K = 5, 7,
 * stride S = 1, 2 (the unrolled ones), else 4 (the generic one). */
static int32_t mixq_dwk_row_kind(const mixq_conv_params_t *p) {
  const int32_t k = p->k_h, s = p->stride_w;
  if (k == p->k_w && (k == 5 || k == 7) && (s == 1 || s == 2)) return 2 * (k / 2 - 2) + s - 1;
  return 4;
}

/* Direct calls (no function pointers: the stack bound needs a static call graph). */
static void mixq_dwk_row_run(int32_t kind, const mixq_conv_params_t *p,
                             const int16_t *const *rows, int32_t off, const uint32_t *w,
                             uint8_t *dst, int32_t step, int32_t ubits) {
  switch (kind) {
    case 0: mixq_dwk_row_5_1(p, rows, off, w, dst, step, ubits); break;
    case 1: mixq_dwk_row_5_2(p, rows, off, w, dst, step, ubits); break;
    case 2: mixq_dwk_row_7_1(p, rows, off, w, dst, step, ubits); break;
    case 3: mixq_dwk_row_7_2(p, rows, off, w, dst, step, ubits); break;
    default: mixq_dwk_row_any(p, rows, off, w, dst, step, ubits); break;
  }
}

#define MIXQ_DWK_MAX_KH 16 /* kernel rows held by the ring (mixq.codegen.kernels_armv7em_dw) */

void mixq_dwconv_dsp(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                     uint8_t *scratch) {
  const mixq_dwk_layout_t l = mixq_dwk_layout(p);
  uint32_t *prm = (uint32_t *)(void *)scratch;
  int16_t *ring = (int16_t *)(void *)(scratch + l.ring_off);
  uint8_t *stage = scratch + l.stage_off;
  const int32_t kh = p->k_h, rl = l.row_lanes, out_w = p->out_w;
  const int32_t ob = p->out_bits, opb = mixq_row_bytes(p->in_c, ob);
  const int32_t step = ob == 8 ? opb : l.stage_step;
  const int32_t kind = mixq_dwk_row_kind(p);
  const int32_t ubits =
      (!p->out_signed && p->act_min == 0 && p->act_max == (1 << ob) - 1) ? ob : 0;
  const int16_t *rows[MIXQ_DWK_MAX_KH];
  int32_t zeroed = 0; /* channels per ring slot when the padding was zeroed */
  for (int32_t c0 = 0; c0 < p->in_c; c0 += l.chunk) {
    const int32_t n = p->in_c - c0 < l.chunk ? p->in_c - c0 : l.chunk;
    const int32_t slot_lanes = n * rl;
    int32_t next = -p->pad_top; /* input rows below next are in the ring (or never needed) */
    mixq_dwk_params(p, c0, n, &l, prm);
    if (n != zeroed) { /* the fills write data lanes only: a chunk of the same n keeps these */
      memset(ring, 0, (size_t)(kh * slot_lanes) * 2); /* padding lanes */
      if (ob != 8 && n * ob % 32) memset(stage, 0, (size_t)l.stage_bytes); /* empty slots */
      zeroed = n;
    }
    for (int32_t oy = 0; oy < p->out_h; oy++) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      if (next < iy0) next = iy0;
      for (; next < iy0 + kh; next++) {
        mixq_dw_fill(p, input, next, c0, n, ring + ((next % kh) + kh) % kh * slot_lanes, rl);
      }
      for (int32_t r = 0; r < kh; r++) rows[r] = ring + (((iy0 + r) % kh) + kh) % kh * slot_lanes;
      uint8_t *out_row = output + oy * out_w * opb;
      for (int32_t ch = 0; ch < n; ch++) {
        mixq_dwk_row_run(kind, p, rows, ch * rl, prm + ch * l.prm_words,
               ob == 8 ? out_row + c0 + ch : stage + mixq_dw_slot(ch, ob), step, ubits);
      }
      if (ob == 4) mixq_dw_pack_row4(stage, step, n, out_w, out_row + c0 / 2, opb);
      else if (ob == 2) mixq_dw_pack_row2(stage, step, n, out_w, out_row + c0 / 4, opb);
    }
  }
}
