/* mixq_conv2d_dsp_s8 / _s4 / _s2: convolution, pointwise and fully connected layers on
 * ARMv7E-M DSP, u8/u4/u2 activations (lane conventions: mixq_dsp.h).
 *
 * im2col with 1 x 4 register blocking: four output pixels share every widened weight word.
 * Per block of four pixels the receptive fields are widened once into four interleaved int16
 * columns (scratch; groups of four lanes, column by column, so one pointer and LDRD reach all
 * four); per output channel the inner loop widens each weight word once (SXTB16 for s8, one AND
 * per two lanes for s4/s2) and issues two SMLAD per column and lane group. The inner loops are
 * inline assembly on ARM (gcc 12 spills the widened words otherwise) with a plain C twin for
 * other compilers; the last pixels of an odd count (and fully connected layers) use a one-column
 * loop in C. The three weight widths are one always-inline body specialised by the compiler. */
#include "mixq_dsp.h"

/* Layouts of the im2col column (the `window` argument below). */
enum { MIXQ_DSP_TAP = 0, MIXQ_DSP_WIN = 1, MIXQ_DSP_WIN_UNPACKED = 2 };

/* Width of the codes the column is widened from: the input's, or 8 when sub-byte codes are
 * unpacked to bytes while staged (MIXQ_DSP_WIN_UNPACKED). */
MIXQ_INLINE int32_t mixq_dsp_stream_bits(const mixq_conv_params_t *p, int32_t window) {
  return window == MIXQ_DSP_WIN_UNPACKED ? 8 : p->in_bits;
}

/* Codes one kernel tap adds to the im2col stream: the tap's in_c codes rounded up to a whole
 * word of 32 / in_bits codes (per-tap layout), the pixel's packed bytes as they are (window
 * layout: the receptive field is staged contiguously and widened as one stream; the codes past
 * in_c in a pixel's last byte meet zero weights), or its in_c codes (unpacked window). */
static int32_t mixq_dsp_tap_codes(const mixq_conv_params_t *p, int32_t window) {
  const int32_t per_in = 32 / p->in_bits;
  if (window == MIXQ_DSP_WIN_UNPACKED) return p->in_c;
  return window ? mixq_row_bytes(p->in_c, p->in_bits) * (8 / p->in_bits)
                : (p->in_c + per_in - 1) / per_in * per_in;
}

/* int16 lanes of one im2col column: the taps' codes rounded up to whole words of
 * 32 / in_bits lanes, then to whole weight words of 32 / w_bits lanes (w_bits: the kernel's,
 * which for s8 may exceed p->w_bits: sub-byte weights widened by the code generator). */
static int32_t mixq_dsp_conv_k_lanes(const mixq_conv_params_t *p, int32_t window,
                                     int32_t w_bits) {
  const int32_t per_in = 32 / mixq_dsp_stream_bits(p, window), per_w = 32 / w_bits;
  const int32_t codes = p->k_h * p->k_w * mixq_dsp_tap_codes(p, window);
  const int32_t stream = (codes + per_in - 1) / per_in * per_in;
  return (stream + per_w - 1) / per_w * per_w;
}

/* Bytes of the staged receptive field of the window layouts (whole words; unpacked: one byte
 * per code and 4 bytes of slack for the unpacking's whole-word stores). */
static int32_t mixq_dsp_stage_bytes(const mixq_conv_params_t *p, int32_t window) {
  const int32_t taps = p->k_h * p->k_w;
  return window == MIXQ_DSP_WIN_UNPACKED ? (taps * p->in_c + 4 + 3) / 4 * 4
                                         : (taps * mixq_row_bytes(p->in_c, p->in_bits) + 3) / 4 * 4;
}

int32_t mixq_conv2d_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return (p->out_h * p->out_w >= 4 ? 4 : 1) * mixq_dsp_conv_k_lanes(p, 0, p->w_bits) * 2;
}

int32_t mixq_conv2d_dsp_win_scratch_bytes(const mixq_conv_params_t *p) {
  return (p->out_h * p->out_w >= 4 ? 4 : 1) * mixq_dsp_conv_k_lanes(p, 1, p->w_bits) * 2 +
         mixq_dsp_stage_bytes(p, MIXQ_DSP_WIN);
}

int32_t mixq_conv2d_dsp_win8_scratch_bytes(const mixq_conv_params_t *p) {
  const int32_t window = MIXQ_DSP_WIN_UNPACKED;
  return (p->out_h * p->out_w >= 4 ? 4 : 1) * mixq_dsp_conv_k_lanes(p, window, p->w_bits) * 2 +
         mixq_dsp_stage_bytes(p, window);
}

/* mixq_dsp_expand of one tap with the code width a constant in each call (one copy per width). */
MIXQ_INLINE mixq_u32a *mixq_dsp_expand_tap(mixq_u32a *d, const uint8_t *src, int32_t n,
                                           int32_t bits, int32_t stride, int32_t *sum) {
  if (bits == 8) return mixq_dsp_expand(d, src, n, 8, stride, sum);
  if (bits == 4) return mixq_dsp_expand(d, src, n, 4, stride, sum);
  return mixq_dsp_expand(d, src, n, 2, stride, sum);
}

/* Widen the receptive field of output pixel `pix` into k_lanes lanes, groups of four lanes
 * `stride` words apart; returns the sum of its activation codes when want_sum. */
static int32_t mixq_dsp_im2col(const mixq_conv_params_t *p, const uint8_t *input, int32_t pix,
                               mixq_u32a *d, int32_t k_lanes, int32_t stride, int32_t want_sum) {
  const int32_t bits = p->in_bits;
  const int32_t px_bytes = mixq_row_bytes(p->in_c, bits);
  const int32_t per_word = 32 / bits;
  const int32_t tap_groups = (p->in_c + per_word - 1) / per_word * per_word / 4;
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
  mixq_u32a *const end = d + k_lanes / 4 * stride;
  int32_t sum = 0;
  int32_t *const s = want_sum ? &sum : NULL;
  for (int32_t ky = 0; ky < p->k_h; ky++) {
    const int32_t iy = iy0 + ky;
    for (int32_t kx = 0; kx < p->k_w; kx++) {
      const int32_t ix = ix0 + kx;
      if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
        for (int32_t g = 0; g < tap_groups; g++) MIXQ_EMIT2(d, stride, 0u, 0u);
        continue;
      }
      const uint8_t *src = input + (iy * p->in_w + ix) * px_bytes;
      d = mixq_dsp_expand_tap(d, src, p->in_c, bits, stride, s);
    }
  }
  while (d < end) MIXQ_EMIT2(d, stride, 0u, 0u);
  return sum;
}

/* Copy n bytes (a word at a time; small n, so no library call). */
MIXQ_INLINE void mixq_dsp_copy(uint8_t *d, const uint8_t *s, int32_t n) {
  for (; n >= 4; n -= 4, s += 4, d += 4) {
    const uint32_t v = mixq_dsp_load32(s);
    memcpy(d, &v, 4);
  }
  for (; n > 0; n--) *d++ = *s++;
}

MIXQ_INLINE void mixq_dsp_zero(uint8_t *d, int32_t n) {
  const uint32_t z = 0;
  for (; n >= 4; n -= 4, d += 4) memcpy(d, &z, 4);
  for (; n > 0; n--) *d++ = 0;
}

/* The codes of one packed byte (two u4 or four u2), one per byte of the result. */
MIXQ_INLINE uint32_t mixq_dsp_unpack_byte(uint32_t x, int32_t bits) {
  if (bits == 4) return (x | x << 4) & 0x0F0Fu;
  x |= x << 6;  /* codes 0, 1 at bits 0, 8; codes 2, 3 at bits 4, 12 */
  x |= x << 12; /* ... and codes 2, 3 at bits 16, 24 */
  return x & 0x03030303u;
}

/* Unpack the in_c codes (bits 4 or 2, a constant) of each of n pixels of px bytes to one byte
 * per code at d, pixel after pixel; whole-word stores write up to 3 bytes past the last code
 * (garbage there and in padding codes is overwritten by the next pixel or never read). */
MIXQ_INLINE void mixq_dsp_unpack(uint8_t *d, const uint8_t *src, int32_t n, int32_t px,
                                 int32_t in_c, int32_t bits) {
  if (px == 1) { /* the common first layer: 1-4 (u2) or 1-2 (u4) channels, one byte a pixel */
    for (int32_t i = 0; i < n; i++, d += in_c) {
      const uint32_t w = mixq_dsp_unpack_byte(src[i], bits);
      memcpy(d, &w, 4);
    }
    return;
  }
  for (int32_t i = 0; i < n; i++, d += in_c, src += px) {
    for (int32_t c = 0, b = 0; c < in_c; c += 8 / bits, b++) {
      const uint32_t w = mixq_dsp_unpack_byte(src[b], bits);
      memcpy(d + c, &w, 4);
    }
  }
}

/* Widen n >= 1 words of 8-bit codes at src (any alignment) into lane groups `stride` words
 * apart from d (the lane order of mixq_dsp_expand); returns the next group. On ARM two words per
 * iteration in assembly (6 instructions a word; gcc 12's loop takes 8). */
MIXQ_INLINE mixq_u32a *mixq_dsp_widen_row8(mixq_u32a *d, const uint8_t *src, int32_t n,
                                           int32_t stride) {
#if defined(__ARM_FEATURE_DSP)
  if (n & 1) {
    const uint32_t x = mixq_dsp_load32(src);
    MIXQ_EMIT2(d, stride, mixq_uxtb16(x), mixq_uxtb16_ror8(x));
    src += 4;
  }
  int32_t pairs = n >> 1;
  if (pairs > 0) {
    uint32_t x0, x1, a0, a1, b0, b1;
    mixq_u32a *d2 = d + stride;
    const int32_t step = 8 * stride; /* bytes between groups of the same parity */
    __asm__ volatile(
        "1:\n\t"
        "ldr %[x0], [%[s]], #4\n\t"
        "ldr %[x1], [%[s]], #4\n\t"
        "uxtb16 %[a0], %[x0]\n\t"
        "uxtb16 %[a1], %[x0], ror #8\n\t"
        "uxtb16 %[b0], %[x1]\n\t"
        "uxtb16 %[b1], %[x1], ror #8\n\t"
        "strd %[a0], %[a1], [%[d]]\n\t"
        "strd %[b0], %[b1], [%[d2]]\n\t"
        "add %[d], %[d], %[step]\n\t"
        "add %[d2], %[d2], %[step]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [x0] "=&r"(x0), [x1] "=&r"(x1), [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0),
          [b1] "=&r"(b1), [s] "+r"(src), [d] "+r"(d), [d2] "+r"(d2), [n] "+r"(pairs)
        : [step] "r"(step)
        : "cc", "memory");
    (void)x0; (void)x1; (void)a0; (void)a1; (void)b0; (void)b1; (void)d2;
  }
#else
  for (int32_t i = 0; i < n; i++, src += 4) {
    const uint32_t x = mixq_dsp_load32(src);
    MIXQ_EMIT2(d, stride, mixq_uxtb16(x), mixq_uxtb16_ror8(x));
  }
#endif
  return d;
}

/* The window layout's common case, out of the general walk: 8-bit codes, no padding in the
 * window, no code sum (8-bit weights). The k_h rows (row bytes each, `pitch` bytes apart in the
 * input) are widened straight from the input when a row is whole words (in_c a multiple of 4,
 * e.g. ResNet-8's 16-channel 3x3 convs: about 5 instructions a word instead of 12 through the
 * stage); otherwise copied a word at a time to the stage and widened as one stream of UXTB16
 * words, the stream's last word masked (the stage is whole words). */
static void mixq_dsp_win8_interior(const uint8_t *src, int32_t pitch, int32_t k_h, int32_t row,
                                   mixq_u32a *d, mixq_u32a *end, int32_t stride,
                                   uint8_t *stage) {
  if ((row & 3) == 0) {
    for (int32_t ky = 0; ky < k_h; ky++, src += pitch) {
      d = mixq_dsp_widen_row8(d, src, row / 4, stride);
    }
    while (d < end) MIXQ_EMIT2(d, stride, 0u, 0u);
    return;
  }
  uint8_t *s = stage;
  for (int32_t ky = 0; ky < k_h; ky++, src += pitch) {
    int32_t i = 0;
    for (; i + 4 <= row; i += 4, s += 4) {
      const uint32_t v = mixq_dsp_load32(src + i);
      memcpy(s, &v, 4);
    }
    for (; i < row; i++) *s++ = src[i];
  }
  const int32_t n = k_h * row;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t x = mixq_dsp_load32(stage + i);
    MIXQ_EMIT2(d, stride, mixq_uxtb16(x), mixq_uxtb16_ror8(x));
  }
  if (i < n) {
    const uint32_t x = mixq_dsp_load32(stage + i) & ((1u << (8 * (n - i))) - 1u);
    MIXQ_EMIT2(d, stride, mixq_uxtb16(x), mixq_uxtb16_ror8(x));
  }
  while (d < end) MIXQ_EMIT2(d, stride, 0u, 0u);
}

/* Window layouts: stage the receptive field of output pixel `pix` contiguously (zero bytes for
 * the padding), then widen it as one stream of k_h * k_w * px_bytes * 8 / in_bits codes; or,
 * unpacked, of k_h * k_w * in_c codes staged one per byte. */
static int32_t mixq_dsp_im2col_win(const mixq_conv_params_t *p, const uint8_t *input,
                                   int32_t pix, mixq_u32a *d, int32_t k_lanes, int32_t stride,
                                   int32_t want_sum, uint8_t *stage, int32_t unpack) {
  const int32_t in_px = mixq_row_bytes(p->in_c, p->in_bits);
  const int32_t bits = unpack ? 8 : p->in_bits, px = unpack ? p->in_c : in_px;
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
  const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
  const int32_t kx_hi = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
  const int32_t row = p->k_w * px, inside = (kx_hi - kx_lo) * px;
  if (bits == 8 && !unpack && !want_sum && kx_lo == 0 && kx_hi == p->k_w && iy0 >= 0 &&
      iy0 + p->k_h <= p->in_h) {
    mixq_dsp_win8_interior(input + (iy0 * p->in_w + ix0) * px, p->in_w * px, p->k_h, row, d,
                           d + k_lanes / 4 * stride, stride, stage);
    return 0;
  }
  uint8_t *s = stage;
  for (int32_t ky = 0; ky < p->k_h; ky++, s += row) {
    const int32_t iy = iy0 + ky;
    if (iy < 0 || iy >= p->in_h || inside <= 0) {
      mixq_dsp_zero(s, row);
      continue;
    }
    mixq_dsp_zero(s, kx_lo * px);
    const uint8_t *src = input + (iy * p->in_w + ix0 + kx_lo) * in_px;
    if (!unpack) mixq_dsp_copy(s + kx_lo * px, src, inside);
    else if (p->in_bits == 4) mixq_dsp_unpack(s + kx_lo * px, src, kx_hi - kx_lo, in_px, p->in_c, 4);
    else mixq_dsp_unpack(s + kx_lo * px, src, kx_hi - kx_lo, in_px, p->in_c, 2);
    mixq_dsp_zero(s + kx_hi * px, (p->k_w - kx_hi) * px);
  }
  int32_t sum = 0;
  int32_t *const sp = want_sum ? &sum : NULL;
  const int32_t n = p->k_h * row * (8 / bits);
  mixq_u32a *const end = d + k_lanes / 4 * stride;
  if (bits == 8) d = mixq_dsp_expand(d, stage, n, 8, stride, sp);
  else if (bits == 4) d = mixq_dsp_expand(d, stage, n, 4, stride, sp);
  else d = mixq_dsp_expand(d, stage, n, 2, stride, sp);
  while (d < end) MIXQ_EMIT2(d, stride, 0u, 0u);
  return sum;
}

/* acc[c] += dot(weight row, column c), c = 0..3, four interleaved columns at a. */
MIXQ_INLINE void mixq_dsp_mac_1x4_c(const mixq_u32a *w, const mixq_u32a *a, int32_t n_words,
                                    int32_t bits, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  for (int32_t i = 0; i < n_words; i++) {
    const uint32_t wd = w[i];
    for (int32_t k = 0; k < (bits == 8 ? 1 : 8 / bits); k++) {
      uint32_t x0, x1;
      mixq_dsp_widen(wd, k, bits, &x0, &x1);
      s0 = mixq_smlad(x1, a[1], mixq_smlad(x0, a[0], s0));
      s1 = mixq_smlad(x1, a[3], mixq_smlad(x0, a[2], s1));
      s2 = mixq_smlad(x1, a[5], mixq_smlad(x0, a[4], s2));
      s3 = mixq_smlad(x1, a[7], mixq_smlad(x0, a[6], s3));
      a += 8;
    }
  }
  acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}

/* MAC loop of n_ch output channels over four interleaved columns: accs[4 * j + c] =
 * sums[c] + dot(weight row j, column c). Returns the weights after the last row. */
MIXQ_INLINE const mixq_u32a *mixq_dsp_mac_group_c(const mixq_u32a *w, const mixq_u32a *cols,
                                                  const int32_t *sums, int32_t n_words,
                                                  int32_t n_ch, int32_t bits, int32_t *accs) {
  for (int32_t j = 0; j < n_ch; j++) {
    int32_t acc[4] = {sums[0], sums[1], sums[2], sums[3]};
    mixq_dsp_mac_1x4_c(w, cols, n_words, bits, acc);
    w += n_words;
    accs[4 * j] = acc[0]; accs[4 * j + 1] = acc[1];
    accs[4 * j + 2] = acc[2]; accs[4 * j + 3] = acc[3];
  }
  return w;
}

#if defined(__ARM_FEATURE_DSP)
/* The same in assembly: the whole channel loop, 16 lanes (64 MACs) per main-loop iteration,
 * registers fixed so that STM stores the accumulators in order. r7 stays free (Thumb frame
 * pointer at -O0). Per channel: columns pointer, initial sums, the byte counts of the row's main
 * part and remainder words, and the accumulator pointers come from ctx, whose address the
 * assembly keeps on the stack (8 bytes below gcc's sp, released at the end). */
#define MIXQ_COL(s) \
  "ldrd %[c0], %[c1], [%[a]], #8\n\tsmlad %[" s "], %[x0], %[c0], %[" s "]\n\t" \
  "smlad %[" s "], %[x1], %[c1], %[" s "]\n\t"
#define MIXQ_COLS MIXQ_COL("s0") MIXQ_COL("s1") MIXQ_COL("s2") MIXQ_COL("s3")
#define MIXQ_W8(wd) \
  "sxtb16 %[x0], %[" wd "]\n\tsxtb16 %[x1], %[" wd "], ror #8\n\t" MIXQ_COLS
#define MIXQ_AND(sh0, sh1) \
  "and %[x0], %[wd1], %[wd], lsr #" sh0 "\n\tand %[x1], %[wd1], %[wd], lsr #" sh1 "\n\t" \
  MIXQ_COLS
#define MIXQ_LDR "ldr %[wd], [%[w]], #4\n\t"
#define MIXQ_LDRD_W "ldrd %[wd], %[wd1], [%[w]], #8\n\t"

#define MIXQ_GROUP_ASM(main_body, rem_body)                                     \
  "sub sp, sp, #8\n\t"                                                          \
  "str %[x0], [sp]\n"                              /* ctx, for the whole loop */ \
  "2:\n\t"                                                                      \
  "ldr %[x0], [sp]\n\t"                                                         \
  "ldr %[a], [%[x0], #0]\n\t"                                                   \
  "ldrd %[s0], %[s1], [%[x0], #4]\n\t"                                          \
  "ldrd %[s2], %[s3], [%[x0], #12]\n\t"                                         \
  "ldr %[w_end], [%[x0], #20]\n\t"                                              \
  "add %[w_end], %[w], %[w_end]\n\t"                                            \
  "cmp %[w], %[w_end]\n\t"                                                      \
  "beq 3f\n"                                                                    \
  "1:\n\t" main_body                                                            \
  "cmp %[w], %[w_end]\n\t"                                                      \
  "bne 1b\n"                                                                    \
  "3:\n\t"                                                                      \
  "ldr %[x0], [sp]\n\t"                                                         \
  "ldr %[w_end], [%[x0], #24]\n\t"                                              \
  "cmp %[w_end], #0\n\t"                                                        \
  "beq 5f\n\t"                                                                  \
  "add %[w_end], %[w], %[w_end]\n"                                              \
  "4:\n\t" rem_body                                                             \
  "cmp %[w], %[w_end]\n\t"                                                      \
  "bne 4b\n"                                                                    \
  "5:\n\t"                                                                      \
  "ldr %[x1], [sp]\n\t"                                                         \
  "ldr %[x0], [%[x1], #28]\n\t"                                                 \
  "stmia %[x0]!, {%[s0], %[s1], %[s2], %[s3]}\n\t"                              \
  "str %[x0], [%[x1], #28]\n\t"                                                 \
  "ldr %[x1], [%[x1], #32]\n\t"                                                 \
  "cmp %[x0], %[x1]\n\t"                                                        \
  "bne 2b\n\t"                                                                  \
  "add sp, sp, #8\n\t"

__attribute__((noinline)) static const mixq_u32a *mixq_dsp_mac_group(
    const mixq_u32a *w_in, const mixq_u32a *cols,
                                                const int32_t *sums, int32_t n_words,
                                                int32_t n_ch, int32_t bits, int32_t *accs) {
  const int32_t words_16 = bits == 8 ? 4 : (bits == 4 ? 2 : 1); /* weight words per 16 lanes */
  const int32_t n_main = n_words / words_16 * words_16;
  int32_t ctx[9];
  ctx[0] = (int32_t)(uintptr_t)cols;
  ctx[1] = sums[0]; ctx[2] = sums[1]; ctx[3] = sums[2]; ctx[4] = sums[3];
  ctx[5] = n_main * 4;                         /* bytes of the main part of a row */
  ctx[6] = (n_words - n_main) * 4;             /* bytes of its remainder words */
  ctx[7] = (int32_t)(uintptr_t)accs;           /* next accumulators */
  ctx[8] = (int32_t)(uintptr_t)(accs + 4 * n_ch);
  register const mixq_u32a *w __asm__("r0") = w_in;
  register const mixq_u32a *a __asm__("r1");
  register int32_t s0 __asm__("r2"), s1 __asm__("r3"), s2 __asm__("r4"), s3 __asm__("r5");
  register uint32_t x0 __asm__("r6") = (uint32_t)(uintptr_t)ctx;
  register uint32_t x1 __asm__("r8"), c0 __asm__("r9"), c1 __asm__("r10");
  register uint32_t wd __asm__("r11"), w_end __asm__("r12");
  register uint32_t wd1 __asm__("lr") = bits == 4 ? 0x000F000Fu : 0x00030003u; /* or mask */
#define MIXQ_GROUP_OPERANDS                                                              \
  : [w] "+r"(w), [a] "=&r"(a), [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2),           \
    [s3] "=&r"(s3), [x0] "+r"(x0), [x1] "=&r"(x1), [c0] "=&r"(c0), [c1] "=&r"(c1),       \
    [wd] "=&r"(wd), [w_end] "=&r"(w_end), [wd1] "+r"(wd1)                                 \
  :                                                                                      \
  : "cc", "memory"
  if (n_ch <= 0) return w_in;
  if (bits == 8) {
    __asm__ volatile(MIXQ_GROUP_ASM(MIXQ_LDRD_W MIXQ_W8("wd") MIXQ_W8("wd1")
                                    MIXQ_LDRD_W MIXQ_W8("wd") MIXQ_W8("wd1"),
                                    MIXQ_LDR MIXQ_W8("wd"))
                     MIXQ_GROUP_OPERANDS);
  } else if (bits == 4) {
    __asm__ volatile(MIXQ_GROUP_ASM(MIXQ_LDR MIXQ_AND("0", "4") MIXQ_AND("8", "12")
                                    MIXQ_LDR MIXQ_AND("0", "4") MIXQ_AND("8", "12"),
                                    MIXQ_LDR MIXQ_AND("0", "4") MIXQ_AND("8", "12"))
                     MIXQ_GROUP_OPERANDS);
  } else {
    __asm__ volatile(MIXQ_GROUP_ASM(MIXQ_LDR MIXQ_AND("0", "2") MIXQ_AND("4", "6")
                                    MIXQ_AND("8", "10") MIXQ_AND("12", "14"),
                                    "")
                     MIXQ_GROUP_OPERANDS);
  }
  (void)a; (void)s0; (void)s1; (void)s2; (void)s3; (void)x0; (void)x1; (void)c0; (void)c1;
  (void)wd; (void)w_end; (void)wd1;
  return w;
}
#else
#define mixq_dsp_mac_group mixq_dsp_mac_group_c
#endif

/* dot(weight row, one dense column). */
MIXQ_INLINE int32_t mixq_dsp_mac_1x1(const mixq_u32a *w, const mixq_u32a *a, int32_t n_words,
                                     int32_t bits) {
  int32_t s = 0;
  for (int32_t i = 0; i < n_words; i++) {
    const uint32_t wd = w[i];
    for (int32_t k = 0; k < (bits == 8 ? 1 : 8 / bits); k++) {
      uint32_t x0, x1;
      mixq_dsp_widen(wd, k, bits, &x0, &x1);
      s = mixq_smlad(x1, a[1], mixq_smlad(x0, a[0], s));
      a += 2;
    }
  }
  return s;
}

/* mixq_dsp_pack_codes out of line: once per group of codes, not worth its size in every copy */
__attribute__((noinline)) static void mixq_pack_codes_call(const uint8_t *codes, int32_t n,
                                                           int32_t bits, uint8_t *out) {
  mixq_dsp_pack_codes(codes, n, bits, out);
}

#define MIXQ_GROUP 16 /* output channels whose accumulators are kept before requantization */

#if defined(__ARM_FEATURE_DSP)
/* One output code: acc * m + bias (SMLAL on the reloaded 64-bit bias), the high word shifted by
 * t = shift - 32 and saturated (sat: "usat" or "ssat"), stored at dst. */
#define MIXQ_REQ_ONE(sat, dst)                                 \
  "ldr %[a], [%[acc]], #4\n\t"                                \
  "ldrd %[lo], %[hi], [%[bias]]\n\t"                          \
  "smlal %[lo], %[hi], %[a], %[m]\n\t"                        \
  "asr %[hi], %[hi], %[t]\n\t"                                \
  sat " %[hi], #8, %[hi]\n\t"                                 \
  "strb %[hi], " dst "\n\t"
#define MIXQ_REQ_LOOP(sat)                                                              \
  "1:\n\t"                                                                             \
  "ldr %[m], [%[mult]], #4\n\t"                                                        \
  "ldr %[t], [%[shift]], #4\n\t"                                                       \
  "sub %[t], %[t], #32\n\t"                                                            \
  MIXQ_REQ_ONE(sat, "[%[o]]") MIXQ_REQ_ONE(sat, "[%[o], %[opb]]")                      \
  MIXQ_REQ_ONE(sat, "[%[o2]]") MIXQ_REQ_ONE(sat, "[%[o2], %[opb]]")                    \
  "add %[bias], %[bias], #8\n\t"                                                       \
  "add %[o], %[o], #1\n\t"                                                             \
  "add %[o2], %[o2], #1\n\t"                                                           \
  "subs %[n], %[n], #1\n\t"                                                            \
  "bne 1b\n\t"

/* Requantize n >= 1 channels of four pixels (accs: four per channel) to 8-bit codes at o + j,
 * o + opb + j, o + 2 opb + j, o + 3 opb + j, every shift >= 32 (the fast rule of
 * mixq_dsp_code), saturated unsigned (USAT) or signed (SSAT). In assembly with fixed registers
 * (r7 left free): gcc 12 keeps the C loop's four output pointers on the stack (~52 instructions
 * per channel against 32 here). */
__attribute__((noinline)) static void mixq_dsp_requant4_8(const int32_t *accs,
                                                          const int64_t *bias_in,
                                                          const int32_t *mult_in,
                                                          const int32_t *shift_in,
                                                          uint8_t *out, int32_t opb,
                                                          int32_t n_in, int32_t is_signed) {
  register const int32_t *acc __asm__("r0") = accs;
  register const int64_t *bias __asm__("r1") = bias_in;
  register const int32_t *mult __asm__("r2") = mult_in;
  register const int32_t *shift __asm__("r3") = shift_in;
  register uint8_t *o __asm__("r4") = out;
  register uint8_t *o2 __asm__("r5") = out + 2 * opb;
  register int32_t stride __asm__("r6") = opb;
  register int32_t n __asm__("r8") = n_in;
  register int32_t m __asm__("r9"), t __asm__("r10"), a __asm__("r11");
  register int32_t lo __asm__("r12"), hi __asm__("lr");
#define MIXQ_REQ_OPERANDS                                                                   \
  : [acc] "+r"(acc), [bias] "+r"(bias), [mult] "+r"(mult), [shift] "+r"(shift), [o] "+r"(o), \
    [o2] "+r"(o2), [n] "+r"(n), [m] "=&r"(m), [t] "=&r"(t), [a] "=&r"(a), [lo] "=&r"(lo),     \
    [hi] "=&r"(hi)                                                                           \
  : [opb] "r"(stride)                                                                       \
  : "cc", "memory"
  if (is_signed) {
    __asm__ volatile(MIXQ_REQ_LOOP("ssat") MIXQ_REQ_OPERANDS);
  } else {
    __asm__ volatile(MIXQ_REQ_LOOP("usat") MIXQ_REQ_OPERANDS);
  }
#undef MIXQ_REQ_OPERANDS
  (void)acc; (void)bias; (void)mult; (void)shift; (void)o; (void)o2; (void)n; (void)m;
  (void)t; (void)a; (void)lo; (void)hi;
}
#endif

/* Four pixels (outputs at out + c * opb), all output channels, for one output mode. The MAC loop
 * of a group of channels runs first (accumulators to the stack), then the requantization loop,
 * so that neither spills the other's registers. */
MIXQ_INLINE void mixq_dsp_block4(const mixq_conv_params_t *p, const mixq_u32a *cols,
                                 const int32_t *sums, uint8_t *out, int32_t n_words,
                                 int32_t bits, int32_t mode, int32_t fast) {
  const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max;
  const int32_t ob = mixq_dsp_mode_bits(mode, p->out_bits); /* output code width */
  const int32_t opb = mixq_row_bytes(out_c, ob);
  const int32_t per = 8 / ob;                                    /* codes per output byte */
  const mixq_u32a *w = (const mixq_u32a *)(const void *)p->weight;
  uint8_t *o0 = out, *o1 = out + opb, *o2 = out + 2 * opb, *o3 = out + 3 * opb;
  int32_t accs[MIXQ_GROUP * 4];
  uint8_t stage[MIXQ_GROUP * 4]; /* sub-byte outputs: codes of the group, pixel by pixel */
  for (int32_t oc0 = 0; oc0 < out_c; oc0 += MIXQ_GROUP) {
    const int32_t n = out_c - oc0 < MIXQ_GROUP ? out_c - oc0 : MIXQ_GROUP;
    /* offset-binary weights: accumulators start from -offset * sum(column) */
    w = mixq_dsp_mac_group(w, cols, sums, n_words, n, bits, accs);
#if defined(__ARM_FEATURE_DSP)
    if (ob == 8 && mode != MIXQ_OUT_ANY && fast) { /* every shift >= 32 (fast: once a layer) */
      mixq_dsp_requant4_8(accs, p->bias + oc0, p->multiplier + oc0, p->shift + oc0, o0, opb, n,
                          mode == MIXQ_OUT_S8);
      o0 += n;
      continue;
    }
#else
    (void)fast;
#endif
    const int64_t *bias = p->bias + oc0;
    const int32_t *mult = p->multiplier + oc0, *shift = p->shift + oc0;
    for (int32_t j = 0; j < n; j++) {
      const int64_t b = bias[j];
      const int32_t m = mult[j], sh = shift[j];
      const int32_t t = sh >= 32 ? sh - 32 : 0; /* fast path only */
      const int32_t *a = accs + 4 * j;
      const int32_t y0 = mixq_dsp_code(a[0], b, m, sh, t, mode, lo, hi);
      const int32_t y1 = mixq_dsp_code(a[1], b, m, sh, t, mode, lo, hi);
      const int32_t y2 = mixq_dsp_code(a[2], b, m, sh, t, mode, lo, hi);
      const int32_t y3 = mixq_dsp_code(a[3], b, m, sh, t, mode, lo, hi);
      if (ob == 8) {
        o0[j] = (uint8_t)y0; o1[j] = (uint8_t)y1; o2[j] = (uint8_t)y2; o3[j] = (uint8_t)y3;
      } else { /* staged one code per byte, pixel by pixel, packed below */
        stage[j] = (uint8_t)y0;
        stage[MIXQ_GROUP + j] = (uint8_t)y1;
        stage[2 * MIXQ_GROUP + j] = (uint8_t)y2;
        stage[3 * MIXQ_GROUP + j] = (uint8_t)y3;
      }
    }
    if (ob == 8) {
      o0 += n; o1 += n; o2 += n; o3 += n;
    } else { /* oc0 and MIXQ_GROUP are multiples of the codes per byte */
      mixq_pack_codes_call(stage, n, ob, o0);
      mixq_pack_codes_call(stage + MIXQ_GROUP, n, ob, o1);
      mixq_pack_codes_call(stage + 2 * MIXQ_GROUP, n, ob, o2);
      mixq_pack_codes_call(stage + 3 * MIXQ_GROUP, n, ob, o3);
      o0 += n / per; o1 += n / per; o2 += n / per; o3 += n / per;
    }
  }
}

/* acc[j] = dot(weight row j, one dense column), j = 0..3: one widened column word pair feeds
 * four output channels (single-pixel blocking: fully connected layers and the last pixels). */
MIXQ_INLINE void mixq_dsp_mac_4x1(const mixq_u32a *w, const mixq_u32a *a, int32_t n_words,
                                  int32_t bits, int32_t *acc) {
  const mixq_u32a *w1 = w + n_words, *w2 = w1 + n_words, *w3 = w2 + n_words;
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  for (int32_t i = 0; i < n_words; i++) {
    const uint32_t v0 = w[i], v1 = w1[i], v2 = w2[i], v3 = w3[i];
    for (int32_t k = 0; k < (bits == 8 ? 1 : 8 / bits); k++) {
      const uint32_t c0 = a[0], c1 = a[1];
      uint32_t x0, x1;
      mixq_dsp_widen(v0, k, bits, &x0, &x1);
      s0 = mixq_smlad(x1, c1, mixq_smlad(x0, c0, s0));
      mixq_dsp_widen(v1, k, bits, &x0, &x1);
      s1 = mixq_smlad(x1, c1, mixq_smlad(x0, c0, s1));
      mixq_dsp_widen(v2, k, bits, &x0, &x1);
      s2 = mixq_smlad(x1, c1, mixq_smlad(x0, c0, s2));
      mixq_dsp_widen(v3, k, bits, &x0, &x1);
      s3 = mixq_smlad(x1, c1, mixq_smlad(x0, c0, s3));
      a += 2;
    }
  }
  acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}

/* One output pixel from its dense column: four output channels at a time
 * (mixq_dsp_mac_4x1), then the last ones; accumulators start from -sum (offset-binary
 * weights). Output mode as mixq_dsp_block4 (U8 stores bytes, anything else through
 * mixq_dsp_store). */
MIXQ_INLINE void mixq_dsp_pixel(const mixq_conv_params_t *p, const mixq_u32a *col, int32_t sum,
                                uint8_t *out, int32_t n_words, int32_t bits, int32_t mode) {
  const mixq_u32a *w = (const mixq_u32a *)(const void *)p->weight;
  const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max;
  int32_t oc = 0;
  for (; oc < out_c; oc += 4, w += 4 * n_words) {
    int32_t acc[4] = {-sum, -sum, -sum, -sum};
    const int32_t n = out_c - oc < 4 ? out_c - oc : 4;
    if (n == 4) {
      mixq_dsp_mac_4x1(w, col, n_words, bits, acc);
    } else {
      for (int32_t j = 0; j < n; j++) {
        acc[j] += mixq_dsp_mac_1x1(w + j * n_words, col, n_words, bits);
      }
    }
    for (int32_t j = 0; j < n; j++) {
      const int32_t c = oc + j, sh = p->shift[c];
      const int32_t y = mixq_dsp_code(acc[j], p->bias[c], p->multiplier[c], sh,
                                      sh >= 32 ? sh - 32 : 0, mode, lo, hi);
      if (mode == MIXQ_OUT_U8) out[c] = (uint8_t)y;
      else mixq_dsp_store(out, c, y, p->out_bits);
    }
  }
}

/* Pointwise layers (1x1 kernel, no padding, any stride): pixel pix's one tap widened in place
 * of mixq_dsp_im2col's window walk (about 150 instructions of set-up per pixel, more than the
 * MACs of a pixel with 8-16 input channels); the same lanes. */
MIXQ_INLINE int32_t mixq_dsp_im2col_1x1(const mixq_conv_params_t *p, const uint8_t *input,
                                        int32_t pix, mixq_u32a *d, int32_t k_lanes,
                                        int32_t stride, int32_t want_sum) {
  const int32_t bits = p->in_bits;
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const uint8_t *src = input + (oy * p->stride_h * p->in_w + ox * p->stride_w) *
                                   mixq_row_bytes(p->in_c, bits);
  mixq_u32a *const end = d + k_lanes / 4 * stride;
  int32_t sum = 0;
  int32_t *const s = want_sum ? &sum : NULL;
  d = mixq_dsp_expand_tap(d, src, p->in_c, bits, stride, s);
  while (d < end) MIXQ_EMIT2(d, stride, 0u, 0u);
  return sum;
}

/* Widen the receptive field of pixel pix (any layout); see mixq_dsp_im2col(_win/_1x1). */
MIXQ_INLINE int32_t mixq_dsp_column(const mixq_conv_params_t *p, const uint8_t *input,
                                    int32_t pix, mixq_u32a *d, int32_t k_lanes, int32_t stride,
                                    int32_t want_sum, uint8_t *stage, int32_t window) {
  if (window) {
    return mixq_dsp_im2col_win(p, input, pix, d, k_lanes, stride, want_sum, stage,
                               window == MIXQ_DSP_WIN_UNPACKED);
  }
  if (p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0) {
    return mixq_dsp_im2col_1x1(p, input, pix, d, k_lanes, stride, want_sum);
  }
  return mixq_dsp_im2col(p, input, pix, d, k_lanes, stride, want_sum);
}

MIXQ_INLINE void mixq_dsp_conv(const mixq_conv_params_t *p, const uint8_t *input,
                               uint8_t *output, uint8_t *scratch, const int32_t bits,
                               const int32_t window) {
  const int32_t k_lanes = mixq_dsp_conv_k_lanes(p, window, bits);
  const int32_t n_words = k_lanes / (32 / bits);
  const int32_t offset = bits == 8 ? 0 : (bits == 4 ? 8 : 2); /* offset-binary weights */
  const int32_t opb = mixq_row_bytes(p->out_c, p->out_bits);
  const int32_t n_pix = p->out_h * p->out_w;
  const int32_t mode = mixq_dsp_out_mode(p);
  int32_t fast = 1; /* every shift >= 32: the 8-bit output stage needs no per-channel check */
  for (int32_t c = 0; c < p->out_c; c++) fast &= p->shift[c] >= 32;
  mixq_u32a *cols = (mixq_u32a *)(void *)scratch;
  /* window layout: the staged receptive field after the columns */
  uint8_t *stage = window ? scratch + (n_pix >= 4 ? 4 : 1) * k_lanes * 2 : NULL;
  int32_t pix = 0;
  for (; pix + 4 <= n_pix; pix += 4) {
    int32_t sums[4] = {0, 0, 0, 0};
    for (int32_t c = 0; c < 4; c++) {
      sums[c] = -offset * mixq_dsp_column(p, input, pix + c, cols + 2 * c, k_lanes, 8, offset,
                                          stage, window);
    }
    uint8_t *out = output + pix * opb;
    switch (mode) {
      case MIXQ_OUT_U8: mixq_dsp_block4(p, cols, sums, out, n_words, bits, MIXQ_OUT_U8, fast);
        break;
      case MIXQ_OUT_S8: mixq_dsp_block4(p, cols, sums, out, n_words, bits, MIXQ_OUT_S8, fast);
        break;
      case MIXQ_OUT_U4: mixq_dsp_block4(p, cols, sums, out, n_words, bits, MIXQ_OUT_U4, fast);
        break;
      case MIXQ_OUT_U2: mixq_dsp_block4(p, cols, sums, out, n_words, bits, MIXQ_OUT_U2, fast);
        break;
      default: mixq_dsp_block4(p, cols, sums, out, n_words, bits, MIXQ_OUT_ANY, fast); break;
    }
  }
  for (; pix < n_pix; pix++) {
    const int32_t sum =
        offset * mixq_dsp_column(p, input, pix, cols, k_lanes, 2, offset, stage, window);
    uint8_t *out = output + pix * opb;
    switch (mode) {
      case MIXQ_OUT_U8: mixq_dsp_pixel(p, cols, sum, out, n_words, bits, MIXQ_OUT_U8); break;
      default: mixq_dsp_pixel(p, cols, sum, out, n_words, bits, MIXQ_OUT_ANY); break;
    }
  }
}

/* The entry points: one per weight width and im2col layout (win8: the window layout of
 * sub-byte inputs unpacked to one byte per code while staged). */
#define MIXQ_DSP_CONV_ENTRY(name, bits, window)                                            \
  void name(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,            \
            uint8_t *scratch) {                                                            \
    mixq_dsp_conv(p, input, output, scratch, bits, window);                                \
  }
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_s8, 8, MIXQ_DSP_TAP)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_s4, 4, MIXQ_DSP_TAP)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_s2, 2, MIXQ_DSP_TAP)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win_s8, 8, MIXQ_DSP_WIN)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win_s4, 4, MIXQ_DSP_WIN)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win_s2, 2, MIXQ_DSP_WIN)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win8_s8, 8, MIXQ_DSP_WIN_UNPACKED)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win8_s4, 4, MIXQ_DSP_WIN_UNPACKED)
MIXQ_DSP_CONV_ENTRY(mixq_conv2d_dsp_win8_s2, 2, MIXQ_DSP_WIN_UNPACKED)

/* mixq_conv2d_dsp_plane8_s8: the input unpacked once into a plane of one byte per code after the
 * 8-bit window layout's scratch (4 bytes of slack for the unpacking's whole-word stores), then
 * the 8-bit window layout over it (each input code unpacked once instead of once per tap that
 * reads it, and interior pixels staged by word copies). */
MIXQ_INLINE mixq_conv_params_t mixq_dsp_plane_view(const mixq_conv_params_t *p) {
  mixq_conv_params_t q = *p;
  q.in_bits = 8;
  return q;
}

int32_t mixq_conv2d_dsp_plane8_scratch_bytes(const mixq_conv_params_t *p) {
  const mixq_conv_params_t q = mixq_dsp_plane_view(p);
  return mixq_conv2d_dsp_win_scratch_bytes(&q) + (p->in_h * p->in_w * p->in_c + 4 + 3) / 4 * 4;
}

void mixq_conv2d_dsp_plane8_s8(const mixq_conv_params_t *p, const uint8_t *input,
                               uint8_t *output, uint8_t *scratch) {
  const mixq_conv_params_t q = mixq_dsp_plane_view(p);
  uint8_t *plane = scratch + mixq_conv2d_dsp_win_scratch_bytes(&q);
  const int32_t n = p->in_h * p->in_w, px = mixq_row_bytes(p->in_c, p->in_bits);
  if (p->in_bits == 4) mixq_dsp_unpack(plane, input, n, px, p->in_c, 4);
  else mixq_dsp_unpack(plane, input, n, px, p->in_c, 2);
  mixq_dsp_conv(&q, plane, output, scratch, 8, MIXQ_DSP_WIN);
}
