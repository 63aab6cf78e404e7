/* mixq_conv2d_sparse_dsp: dense-ternary + sparse-int8 conv / pw / fc on ARMv7E-M DSP, u8 input
 * (formats: mixq_sparse_dsp.h).
 *
 * Dense part: im2col with 1 x 4 pixel blocking as the regular DSP kernels: four interleaved
 * int16 columns, each weight word widened once (one AND per lane pair) for four SMLAD pairs.
 * Sparse part: per output channel its outliers gather their lane from the four columns (LDRH +
 * SMLABB each), 1x4 blocks load a lane group with LDRD and multiply it with two SMLAD. */
#include "mixq_sparse_dsp.h"

#if defined(__GNUC__)
typedef uint16_t __attribute__((may_alias)) mixq_u16a;
#else
typedef uint16_t mixq_u16a;
#endif

static int32_t mixq_sparse_dsp_k_lanes(const mixq_conv_params_t *p) {
  const int32_t tap = (p->in_c + 3) / 4 * 4;
  return (p->k_h * p->k_w * tap + 15) / 16 * 16;
}

static int32_t mixq_sparse_dsp_cols(const mixq_conv_params_t *p) {
  return p->out_h * p->out_w >= 4 ? 4 : 1;
}

int32_t mixq_conv2d_sparse_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return mixq_sparse_dsp_cols(p) * mixq_sparse_dsp_k_lanes(p) * 2;
}

MIXQ_INLINE uint32_t mixq_sparse_dsp_word(const uint8_t *blob, int32_t i) {
  return ((const mixq_u32a *)(const void *)blob)[i];
}

/* Widen the receptive field of output pixel `pix` into the column at d (groups `stride` words
 * apart); returns the sum of its codes. */
static int32_t mixq_sparse_dsp_im2col(const mixq_conv_params_t *p, const uint8_t *input,
                                      int32_t pix, mixq_u32a *d, int32_t k_lanes,
                                      int32_t stride) {
  const int32_t c = p->in_c, full = c / 4, tail = c - 4 * full;
  const int32_t tap_groups = (c + 3) / 4;
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
  mixq_u32a *const end = d + k_lanes / 4 * stride;
  uint32_t sum = 0;
  for (int32_t ky = 0; ky < p->k_h; ky++) {
    const int32_t iy = iy0 + ky;
    for (int32_t kx = 0; kx < p->k_w; kx++) {
      const int32_t ix = ix0 + kx;
      if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
        for (int32_t g = 0; g < tap_groups; g++, d += stride) d[0] = d[1] = 0u;
        continue;
      }
      const uint8_t *src = input + (iy * p->in_w + ix) * c;
      for (int32_t g = 0; g < full; g++, d += stride) {
        const uint32_t x = mixq_dsp_load32(src + 4 * g);
        sum = mixq_usada8(x, sum);
        d[0] = mixq_uxtb16(x);
        d[1] = mixq_uxtb16_ror8(x);
      }
      if (tail) {
        uint32_t x = 0;
        for (int32_t b = 0; b < tail; b++) x |= (uint32_t)src[4 * full + b] << (8 * b);
        sum = mixq_usada8(x, sum);
        d[0] = mixq_uxtb16(x);
        d[1] = mixq_uxtb16_ror8(x);
        d += stride;
      }
    }
  }
  for (; d < end; d += stride) d[0] = d[1] = 0u;
  return (int32_t)sum;
}

/* init[c] + dot(dense row, column c) for the four interleaved columns at a (n_words >= 1). */
MIXQ_INLINE void mixq_sparse_dsp_dot4_c(const mixq_u32a *w, const mixq_u32a *a, int32_t n_words,
                                        const int32_t *init, int32_t *acc) {
  int32_t s0 = init[0], s1 = init[1], s2 = init[2], s3 = init[3];
  for (int32_t i = 0; i < n_words; i++) {
    const uint32_t wd = w[i];
    for (int32_t k = 0; k < 8; k += 2) {
      const uint32_t x0 = (wd >> (2 * k)) & 0x00030003u, x1 = (wd >> (2 * k + 2)) & 0x00030003u;
      s0 = mixq_smlad(x1, a[1], mixq_smlad(x0, a[0], s0));
      s1 = mixq_smlad(x1, a[3], mixq_smlad(x0, a[2], s1));
      s2 = mixq_smlad(x1, a[5], mixq_smlad(x0, a[4], s2));
      s3 = mixq_smlad(x1, a[7], mixq_smlad(x0, a[6], s3));
      a += 8;
    }
  }
  acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}

#if defined(__ARM_FEATURE_DSP)
/* The same in assembly (gcc 12 spills the widened words otherwise): per weight word 8 ANDs,
 * 16 LDRD and 32 SMLAD for 64 MACs. Registers are fixed; r7 stays free (Thumb frame pointer). */
#define MIXQ_SP_COL(s) \
  "ldrd %[c0], %[c1], [%[a]], #8\n\tsmlad %[" s "], %[x0], %[c0], %[" s "]\n\t" \
  "smlad %[" s "], %[x1], %[c1], %[" s "]\n\t"
#define MIXQ_SP_PAIR(sh0, sh1)                                                          \
  "and %[x0], %[m], %[wd], lsr #" sh0 "\n\tand %[x1], %[m], %[wd], lsr #" sh1 "\n\t" \
  MIXQ_SP_COL("s0") MIXQ_SP_COL("s1") MIXQ_SP_COL("s2") MIXQ_SP_COL("s3")

MIXQ_INLINE void mixq_sparse_dsp_dot4(const mixq_u32a *w_in, const mixq_u32a *a_in,
                                      int32_t n_words, const int32_t *init, int32_t *acc) {
  register const mixq_u32a *w __asm__("r0") = w_in;
  register const mixq_u32a *a __asm__("r1") = a_in;
  register int32_t s0 __asm__("r2"), s1 __asm__("r3"), s2 __asm__("r4"), s3 __asm__("r5");
  register uint32_t x0 __asm__("r6") = (uint32_t)(uintptr_t)init;
  register uint32_t x1 __asm__("r8"), c0 __asm__("r9"), c1 __asm__("r10");
  register uint32_t wd __asm__("r11");
  register const mixq_u32a *w_end __asm__("r12") = w_in + n_words;
  register uint32_t m __asm__("lr") = 0x00030003u;
  __asm__ volatile(
      "ldrd %[s0], %[s1], [%[x0]]\n\tldrd %[s2], %[s3], [%[x0], #8]\n"
      "1:\n\t"
      "ldr %[wd], [%[w]], #4\n\t"
      "and %[x0], %[m], %[wd]\n\tand %[x1], %[m], %[wd], lsr #2\n\t"
      MIXQ_SP_COL("s0") MIXQ_SP_COL("s1") MIXQ_SP_COL("s2") MIXQ_SP_COL("s3")
      MIXQ_SP_PAIR("4", "6") MIXQ_SP_PAIR("8", "10")
      MIXQ_SP_PAIR("12", "14")
      "cmp %[w], %[w_end]\n\t"
      "bne 1b\n\t"
      : [w] "+r"(w), [a] "+r"(a), [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2),
        [s3] "=&r"(s3), [x0] "+r"(x0), [x1] "=&r"(x1), [c0] "=&r"(c0), [c1] "=&r"(c1),
        [wd] "=&r"(wd)
      : [w_end] "r"(w_end), [m] "r"(m)
      : "cc", "memory");
  acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}
#else
#define mixq_sparse_dsp_dot4 mixq_sparse_dsp_dot4_c
#endif

/* dot(dense row, one column whose groups are `stride` words apart). */
MIXQ_INLINE int32_t mixq_sparse_dsp_dot1(const mixq_u32a *w, const mixq_u32a *a,
                                         int32_t n_words, int32_t stride) {
  int32_t s = 0;
#if defined(__ARM_FEATURE_DSP)
  if (stride == 2) { /* a dense column (one-column layers: fully connected, < 4 pixels) */
    const mixq_u32a *w_end = w + n_words;
    uint32_t wd, m = 0x00030003u, x0, x1, c0, c1;
#define MIXQ_SP_DOT1(sh0, sh1)                                                            \
  "and %[x0], %[m], %[wd], lsr #" sh0 "\n\tand %[x1], %[m], %[wd], lsr #" sh1 "\n\t"   \
  "ldrd %[c0], %[c1], [%[a]], #8\n\tsmlad %[s], %[x0], %[c0], %[s]\n\t"                \
  "smlad %[s], %[x1], %[c1], %[s]\n\t"
    __asm__ volatile(
        "1:\n\t"
        "ldr %[wd], [%[w]], #4\n\t"
        "and %[x0], %[m], %[wd]\n\tand %[x1], %[m], %[wd], lsr #2\n\t"
        "ldrd %[c0], %[c1], [%[a]], #8\n\tsmlad %[s], %[x0], %[c0], %[s]\n\t"
        "smlad %[s], %[x1], %[c1], %[s]\n\t"
        MIXQ_SP_DOT1("4", "6") MIXQ_SP_DOT1("8", "10") MIXQ_SP_DOT1("12", "14")
        "cmp %[w], %[w_end]\n\t"
        "bne 1b\n\t"
        : [w] "+r"(w), [a] "+r"(a), [s] "+r"(s), [wd] "=&r"(wd), [x0] "=&r"(x0),
          [x1] "=&r"(x1), [c0] "=&r"(c0), [c1] "=&r"(c1)
        : [w_end] "r"(w_end), [m] "r"(m)
        : "cc", "memory");
#undef MIXQ_SP_DOT1
    return s;
  }
#endif
  for (int32_t i = 0; i < n_words; i++) {
    const uint32_t wd = w[i];
    for (int32_t k = 0; k < 8; k += 2) {
      s = mixq_smlad((wd >> (2 * k + 2)) & 0x00030003u, a[1],
                     mixq_smlad((wd >> (2 * k)) & 0x00030003u, a[0], s));
      a += stride;
    }
  }
  return s;
}

/* acc[j] = k_j * acc[j] + outliers of channel j (j < n) for `n_cols` columns (1 or 4; column c
 * at byte 8 * c, accumulators j * n_cols + c), list entries. Returns the entries after the
 * last channel. */
MIXQ_INLINE const uint32_t *mixq_sparse_dsp_list(const uint32_t *e, const mixq_u16a *counts,
                                                 const int32_t *scale, int32_t n,
                                                 const uint8_t *cols, int32_t n_cols,
                                                 int32_t *acc) {
  for (int32_t j = 0; j < n; j++, acc += n_cols) {
    const int32_t k = scale[j];
    const uint32_t *end = e + counts[j];
    if (n_cols == 4) {
      int32_t s0 = k * acc[0], s1 = k * acc[1], s2 = k * acc[2], s3 = k * acc[3];
#if defined(__ARM_FEATURE_DSP)
      /* 12 instructions per outlier and four pixels (gcc 12 reloads pointers in the C form) */
      uint32_t ent, q, t0, t1;
      __asm__ volatile(
          "cmp %[e], %[end]\n\t"
          "beq 2f\n"
          "1:\n\t"
          "ldr %[ent], [%[e]], #4\n\t"
          "add %[q], %[cols], %[ent], lsr #16\n\t"
          "ldrh %[t0], [%[q]]\n\t"
          "ldrh %[t1], [%[q], #8]\n\t"
          "smlabb %[s0], %[t0], %[ent], %[s0]\n\t"
          "ldrh %[t0], [%[q], #16]\n\t"
          "smlabb %[s1], %[t1], %[ent], %[s1]\n\t"
          "ldrh %[t1], [%[q], #24]\n\t"
          "smlabb %[s2], %[t0], %[ent], %[s2]\n\t"
          "smlabb %[s3], %[t1], %[ent], %[s3]\n\t"
          "cmp %[e], %[end]\n\t"
          "bne 1b\n"
          "2:\n\t"
          : [e] "+r"(e), [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3),
            [ent] "=&r"(ent), [q] "=&r"(q), [t0] "=&r"(t0), [t1] "=&r"(t1)
          : [end] "r"(end), [cols] "r"(cols)
          : "cc", "memory");
#else
      for (; e < end; e++) {
        const uint32_t ent = *e;
        const mixq_u16a *q = (const mixq_u16a *)(const void *)(cols + (ent >> 16));
        s0 = mixq_smlabb(q[0], ent, s0);
        s1 = mixq_smlabb(q[4], ent, s1);
        s2 = mixq_smlabb(q[8], ent, s2);
        s3 = mixq_smlabb(q[12], ent, s3);
      }
#endif
      acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
    } else {
      int32_t s0 = k * acc[0];
      for (; e < end; e++) {
        const uint32_t ent = *e;
        s0 = mixq_smlabb(*(const mixq_u16a *)(const void *)(cols + (ent >> 16)), ent, s0);
      }
      acc[0] = s0;
    }
  }
  return e;
}

/* The same for 1x4 block entries (offset word, four int8 values). */
MIXQ_INLINE const uint32_t *mixq_sparse_dsp_blocks(const uint32_t *e, const mixq_u16a *counts,
                                                   const int32_t *scale, int32_t n,
                                                   const uint8_t *cols, int32_t n_cols,
                                                   int32_t *acc) {
  for (int32_t j = 0; j < n; j++, acc += n_cols) {
    const int32_t k = scale[j];
    const uint32_t *end = e + 2 * counts[j];
    if (n_cols == 4) {
      int32_t s0 = k * acc[0], s1 = k * acc[1], s2 = k * acc[2], s3 = k * acc[3];
#if defined(__ARM_FEATURE_DSP)
      /* 18 instructions per block and four pixels (64 MACs) */
      uint32_t off, v, v02, v13, c0, c1;
#define MIXQ_SP_BLOCK_COL(s, o) \
  "ldrd %[c0], %[c1], [%[off], #" o "]\n\tsmlad %[" s "], %[v02], %[c0], %[" s "]\n\t" \
  "smlad %[" s "], %[v13], %[c1], %[" s "]\n\t"
      __asm__ volatile(
          "cmp %[e], %[end]\n\t"
          "beq 2f\n"
          "1:\n\t"
          "ldrd %[off], %[v], [%[e]], #8\n\t"
          "sxtb16 %[v02], %[v]\n\t"
          "sxtb16 %[v13], %[v], ror #8\n\t"
          "add %[off], %[off], %[cols]\n\t"
          MIXQ_SP_BLOCK_COL("s0", "0") MIXQ_SP_BLOCK_COL("s1", "8")
          MIXQ_SP_BLOCK_COL("s2", "16") MIXQ_SP_BLOCK_COL("s3", "24")
          "cmp %[e], %[end]\n\t"
          "bne 1b\n"
          "2:\n\t"
          : [e] "+r"(e), [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3),
            [off] "=&r"(off), [v] "=&r"(v), [v02] "=&r"(v02), [v13] "=&r"(v13),
            [c0] "=&r"(c0), [c1] "=&r"(c1)
          : [end] "r"(end), [cols] "r"(cols)
          : "cc", "memory");
#undef MIXQ_SP_BLOCK_COL
#else
      for (; e < end; e += 2) {
        const uint32_t v = e[1];
        const uint32_t v02 = mixq_sxtb16(v), v13 = mixq_sxtb16_ror8(v);
        const mixq_u32a *q = (const mixq_u32a *)(const void *)(cols + e[0]);
        s0 = mixq_smlad(v13, q[1], mixq_smlad(v02, q[0], s0));
        s1 = mixq_smlad(v13, q[3], mixq_smlad(v02, q[2], s1));
        s2 = mixq_smlad(v13, q[5], mixq_smlad(v02, q[4], s2));
        s3 = mixq_smlad(v13, q[7], mixq_smlad(v02, q[6], s3));
      }
#endif
      acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
    } else {
      int32_t s0 = k * acc[0];
      for (; e < end; e += 2) {
        const uint32_t v = e[1];
        const mixq_u32a *q = (const mixq_u32a *)(const void *)(cols + e[0]);
        s0 = mixq_smlad(mixq_sxtb16_ror8(v), q[1], mixq_smlad(mixq_sxtb16(v), q[0], s0));
      }
      acc[0] = s0;
    }
  }
  return e;
}

/* Output modes: unsigned full-range codes of 8, 4 or 2 bits (USAT fast path), or anything. */
enum { MIXQ_SP_OUT_ANY = 0, MIXQ_SP_OUT_U2 = 2, MIXQ_SP_OUT_U4 = 4, MIXQ_SP_OUT_U8 = 8 };

MIXQ_INLINE int32_t mixq_sparse_dsp_code(int32_t acc, int64_t b, int32_t m, int32_t sh,
                                         int32_t mode, int32_t lo, int32_t hi) {
  if (mode != MIXQ_SP_OUT_ANY && __builtin_expect(sh >= 32, 1)) {
    /* floor(v / 2^sh) == (v >> 32) >> (sh - 32): the high word of one SMLAL */
    const int32_t v = (int32_t)(((int64_t)acc * m + b) >> 32) >> (sh - 32);
    return mode == MIXQ_SP_OUT_U8 ? mixq_usat(v, 8)
                                  : (mode == MIXQ_SP_OUT_U4 ? mixq_usat(v, 4) : mixq_usat(v, 2));
  }
  return mixq_dsp_requant(acc, b, m, sh, lo, hi);
}

/* Requantize channels oc0 .. oc0 + n - 1 of `n_cols` pixels (accumulators j * n_cols + c) and
 * store them into the pixels at out + c * opb; oc0 and n are multiples of the codes per byte
 * except at the last channel. */
MIXQ_INLINE void mixq_sparse_dsp_requant(const mixq_conv_params_t *p, const int32_t *acc,
                                         int32_t oc0, int32_t n, int32_t n_cols, uint8_t *out,
                                         int32_t opb, int32_t mode) {
  const int32_t ob = mode != MIXQ_SP_OUT_ANY ? mode : p->out_bits;
  const int32_t per = 8 / ob;
  const uint32_t keep = mode != MIXQ_SP_OUT_ANY ? ~0u : (1u << ob) - 1u;
  uint8_t *o = out + oc0 / per;
  for (int32_t j = 0; j < n; j += per, o++) {
    uint32_t v[4] = {0u, 0u, 0u, 0u};
    for (int32_t q = 0; q < per && j + q < n; q++) {
      const int32_t oc = oc0 + j + q;
      const int64_t b = p->bias[oc];
      const int32_t m = p->multiplier[oc], sh = p->shift[oc];
      for (int32_t c = 0; c < n_cols; c++) {
        const int32_t y = mixq_sparse_dsp_code(acc[(j + q) * n_cols + c], b, m, sh, mode,
                                               p->act_min, p->act_max);
        v[c] |= ((uint32_t)y & keep) << (q * ob);
      }
    }
    for (int32_t c = 0; c < n_cols; c++) o[c * opb] = (uint8_t)v[c];
  }
}

#define MIXQ_SP_GROUP 16 /* output channels per MAC / outlier / requantization pass */

/* All output channels of n_cols (4 or 1) pixels whose columns are in scratch. */
MIXQ_INLINE void mixq_sparse_dsp_pixels(const mixq_conv_params_t *p, const uint8_t *blob,
                                        const mixq_u32a *cols, const int32_t *init,
                                        int32_t n_cols, int32_t stride, uint8_t *out,
                                        int32_t opb, int32_t mode) {
  const int32_t kind = (int32_t)mixq_sparse_dsp_word(blob, 0);
  const int32_t n_words = (int32_t)mixq_sparse_dsp_word(blob, 2) / 16;
  const int32_t scale_bytes = (int32_t)mixq_sparse_dsp_word(blob, 3);
  const mixq_u32a *w = (const mixq_u32a *)(const void *)(blob + mixq_sparse_dsp_word(blob, 4));
  const uint8_t *scale = blob + mixq_sparse_dsp_word(blob, 5);
  const mixq_u16a *counts = (const mixq_u16a *)(const void *)(blob + mixq_sparse_dsp_word(blob, 6));
  const uint32_t *e = (const mixq_u32a *)(const void *)(blob + mixq_sparse_dsp_word(blob, 7));
  int32_t k[MIXQ_SP_GROUP];
  int32_t acc[MIXQ_SP_GROUP * 4];
  for (int32_t oc0 = 0; oc0 < p->out_c; oc0 += MIXQ_SP_GROUP) {
    const int32_t n = p->out_c - oc0 < MIXQ_SP_GROUP ? p->out_c - oc0 : MIXQ_SP_GROUP;
    for (int32_t j = 0; j < n; j++, w += n_words) {
      if (n_cols == 4) {
        mixq_sparse_dsp_dot4(w, cols, n_words, init, acc + 4 * j);
      } else {
        acc[j] = init[0] + mixq_sparse_dsp_dot1(w, cols, n_words, stride);
      }
    }
    for (int32_t j = 0; j < n; j++) {
      k[j] = scale_bytes == 1 ? (int32_t)scale[oc0 + j]
                              : (int32_t)((const mixq_u32a *)(const void *)scale)[oc0 + j];
    }
    if (kind == 0) {
      e = mixq_sparse_dsp_list(e, counts + oc0, k, n, (const uint8_t *)cols, n_cols, acc);
    } else {
      e = mixq_sparse_dsp_blocks(e, counts + oc0, k, n, (const uint8_t *)cols, n_cols, acc);
    }
    mixq_sparse_dsp_requant(p, acc, oc0, n, n_cols, out, opb, mode);
  }
}

MIXQ_INLINE void mixq_sparse_dsp_run(const mixq_conv_params_t *p, const uint8_t *input,
                                     uint8_t *output, uint8_t *scratch, int32_t mode) {
  const uint8_t *blob = p->weight;
  const int32_t n_cols = (int32_t)mixq_sparse_dsp_word(blob, 1);
  const int32_t k_lanes = (int32_t)mixq_sparse_dsp_word(blob, 2);
  const int32_t opb = mixq_row_bytes(p->out_c, p->out_bits);
  const int32_t n_pix = p->out_h * p->out_w;
  mixq_u32a *cols = (mixq_u32a *)(void *)scratch;
  int32_t pix = 0;
  if (n_cols == 4) {
    for (; pix + 4 <= n_pix; pix += 4) {
      int32_t init[4];
      for (int32_t c = 0; c < 4; c++) {
        init[c] = -mixq_sparse_dsp_im2col(p, input, pix + c, cols + 2 * c, k_lanes, 8);
      }
      mixq_sparse_dsp_pixels(p, blob, cols, init, 4, 8, output + pix * opb, opb, mode);
    }
  }
  for (; pix < n_pix; pix++) { /* the last pixels of the 4-column layout use column 0 */
    const int32_t init = -mixq_sparse_dsp_im2col(p, input, pix, cols, k_lanes, 2 * n_cols);
    mixq_sparse_dsp_pixels(p, blob, cols, &init, 1, 2 * n_cols, output + pix * opb, opb, mode);
  }
}

void mixq_conv2d_sparse_dsp(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                            uint8_t *scratch) {
  const int32_t b = p->out_bits;
  const int32_t fast = !p->out_signed && p->act_min == 0 && p->act_max == (1 << b) - 1;
  switch (fast ? b : MIXQ_SP_OUT_ANY) {
    case MIXQ_SP_OUT_U8: mixq_sparse_dsp_run(p, input, output, scratch, MIXQ_SP_OUT_U8); break;
    case MIXQ_SP_OUT_U4: mixq_sparse_dsp_run(p, input, output, scratch, MIXQ_SP_OUT_U4); break;
    case MIXQ_SP_OUT_U2: mixq_sparse_dsp_run(p, input, output, scratch, MIXQ_SP_OUT_U2); break;
    default: mixq_sparse_dsp_run(p, input, output, scratch, MIXQ_SP_OUT_ANY); break;
  }
}
