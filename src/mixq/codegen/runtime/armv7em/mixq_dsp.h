/* mixq ARMv7E-M DSP kernels: declarations and shared inline helpers (SMLAD/SXTB16 via ACLE).
 *
 * Integer rule (mixq.quant.integer, mirrored exactly):
 *   y = clamp((acc * multiplier + bias) >> shift, act_min, act_max), bias int64
 * with a 64-bit product and an arithmetic (floor) shift, shift in [1, 62].
 *
 * Lanes: the kernels multiply int16 lanes with SMLAD (two 16 x 16-bit products per instruction).
 * Activation codes (u8/u4/u2, packed NHWC, see mixq_types.h) are widened once per receptive field
 * into im2col columns by mixq_dsp_expand(); weight codes are widened in the inner loop from 32-bit
 * words reordered offline by mixq.codegen.kernels_armv7em so that lane l of a weight word
 * multiplies lane l of the column. Inside a 32-bit word of b-bit codes:
 *  - 8-bit codes (activations, s8 weights): SXTB16 / UXTB16 take bytes (0, 2), with ROR #8
 *    bytes (1, 3): lanes hold codes (0, 2, 1, 3);
 *  - 4- and 2-bit codes: one AND with 0x000F000F (0x00030003) after a right shift by k * b
 *    leaves codes k and k + 16 / b in the two halfwords: lanes hold codes
 *    (0, 16/b, 1, 16/b + 1, ...). Sub-byte weights are stored offset-binary (code + 8 for s4,
 *    code + 2 for s2 and ternary) so that no sign extension is needed; the kernel subtracts
 *    offset * (sum of the column's activation codes) from the accumulator, which is exact.
 *
 * On a compiler without the ARM DSP extension (the host build of a project), the same kernels
 * compile against plain C versions of the few instructions they use, so host tests with
 * sanitizers cover them too.
 */
#ifndef MIXQ_DSP_H
#define MIXQ_DSP_H

#include <stdint.h>
#include <string.h>

#include "mixq_types.h"

/* Convolution, pointwise and fully connected layers with unsigned input codes (a fully
 * connected layer is a convolution whose kernel covers the input). Weights reordered by
 * mixq.codegen.kernels_armv7em.reorder_conv_weights; scratch: mixq_conv2d_dsp_scratch_bytes(p)
 * bytes, 4-byte aligned. One variant per weight width (s2 also runs ternary weights). */
int32_t mixq_conv2d_dsp_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_s8);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_s4);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_s2);

/* The same for first layers with few input channels (window layout): each output pixel's
 * receptive field is staged contiguously and widened as one stream, so a tap of 1-4 channels
 * adds its own codes only instead of a whole word of lanes. Weights:
 * reorder_conv_weights(..., window=True); scratch: mixq_conv2d_dsp_win_scratch_bytes(p). */
int32_t mixq_conv2d_dsp_win_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win_s8);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win_s4);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win_s2);

/* The window layout for sub-byte inputs of few channels: each pixel's codes unpacked to one
 * byte per code while staged (3 u2 channels take 3 lanes instead of a byte's 4, and are
 * widened as 8-bit codes). Weights: reorder_conv_weights(..., in_bits=8, window=True);
 * scratch: mixq_conv2d_dsp_win8_scratch_bytes(p). */
int32_t mixq_conv2d_dsp_win8_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win8_s8);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win8_s4);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_win8_s2);

/* The same with 8-bit weights (native, or sub-byte ones widened by the code generator), the
 * whole input unpacked once to one byte per code (the plane, in scratch) and then run as an
 * 8-bit input through the window layout, interior pixels staged by word copies. Weights: as
 * mixq_conv2d_dsp_win8_s8; scratch: mixq_conv2d_dsp_plane8_scratch_bytes(p). */
int32_t mixq_conv2d_dsp_plane8_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_conv2d_dsp_plane8_s8);

/* Fully connected layers (one output pixel, the whole input as one stream of codes), four
 * output channels per widened column word. Weights:
 * mixq.codegen.kernels_armv7em_fc.reorder_fc_weights; scratch: mixq_fc_dsp_scratch_bytes(p)
 * (none for 8-bit inputs). mixq_fc_dsp_s8 also runs 4-/2-bit and ternary weights that the code
 * generator widened to 8 bits. */
int32_t mixq_fc_dsp_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_fc_dsp_s8);
MIXQ_CONV_KERNEL(mixq_fc_dsp_s4);
MIXQ_CONV_KERNEL(mixq_fc_dsp_s2);

/* Depthwise 3x3, stride 1 or 2, any zero padding, unsigned input codes; weights in the
 * reference layout ((k_h, k_w) rows of in_c codes); scratch: mixq_dwconv3x3_dsp_scratch_bytes(p)
 * bytes, 4-byte aligned. */
int32_t mixq_dwconv3x3_dsp_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_dwconv3x3_dsp);

/* Depthwise of any kernel size (k_h <= 16) and stride, any zero padding, unsigned input codes;
 * weights in the reference layout; scratch: mixq_dwconv_dsp_scratch_bytes(p) bytes, 4-byte
 * aligned. */
int32_t mixq_dwconv_dsp_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_dwconv_dsp);

/* ---- the few DSP instructions used, ACLE on ARM, plain C elsewhere ---- */

#if defined(__GNUC__)
typedef uint32_t __attribute__((may_alias)) mixq_u32a; /* word access to int16 lane buffers */
#define MIXQ_INLINE static inline __attribute__((always_inline))
#else
typedef uint32_t mixq_u32a;
#define MIXQ_INLINE static inline
#endif

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define mixq_sxtb16(x) __sxtb16(x)
#define mixq_uxtb16(x) __uxtb16(x)
#define mixq_smlad(x, y, acc) __smlad((x), (y), (acc))
#define mixq_smladx(x, y, acc) __smladx((x), (y), (acc)) /* x.lo * y.hi + x.hi * y.lo + acc */
#define mixq_smlabb(x, y, acc) __smlabb((x), (y), (acc)) /* x.lo * y.lo + acc */
#define mixq_smlatb(x, y, acc) __smlatb((x), (y), (acc)) /* x.hi * y.lo + acc */
#define mixq_usada8(x, acc) __usada8((x), 0u, (acc)) /* acc + sum of the 4 bytes of x */
#define mixq_ssub8(x, y) __ssub8((x), (y)) /* per byte, signed, wrapping */
#define mixq_usat(y, bits) __usat((y), (bits))       /* bits: a constant */
#define mixq_ssat(y, bits) __ssat((y), (bits))       /* bits: a constant */
/* (x * y) >> 32, signed, floor: SMMUL (gcc 12 sometimes expands the C form to three multiplies) */
MIXQ_INLINE int32_t mixq_smmul(int32_t x, int32_t y) {
  int32_t r;
  __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
/* SXTB16 / UXTB16 with ROR #8 (bytes 1 and 3); gcc 12 does not fold a rotate into them. */
MIXQ_INLINE uint32_t mixq_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
MIXQ_INLINE uint32_t mixq_uxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* (lo halfword of x, lo halfword of y) and (hi halfword of x, hi halfword of y) */
MIXQ_INLINE uint32_t mixq_pkhbt16(uint32_t x, uint32_t y) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
MIXQ_INLINE uint32_t mixq_pkhtb16(uint32_t x, uint32_t y) {
  uint32_t r;
  __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
/* Two words from a word-aligned pointer with one LDRD and post-increment (gcc 12 often emits
 * two LDRs); the "m" operand tells the compiler which memory is read. */
#define MIXQ_LDRD(lo, hi, ptr)                                 \
  __asm__("ldrd %0, %1, [%2], #8"                              \
          : "=r"(lo), "=r"(hi), "+r"(ptr)                      \
          : "m"(*(const uint32_t(*)[2])(const void *)(ptr)))
#else
MIXQ_INLINE uint32_t mixq_sxtb16(uint32_t x) {
  return (uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xFFu) |
         ((uint32_t)(uint16_t)(int16_t)(int8_t)((x >> 16) & 0xFFu) << 16);
}
MIXQ_INLINE uint32_t mixq_uxtb16(uint32_t x) { return x & 0x00FF00FFu; }
MIXQ_INLINE uint32_t mixq_sxtb16_ror8(uint32_t x) { return mixq_sxtb16(x >> 8 | x << 24); }
MIXQ_INLINE uint32_t mixq_uxtb16_ror8(uint32_t x) { return mixq_uxtb16(x >> 8 | x << 24); }
MIXQ_INLINE int32_t mixq_smlad(uint32_t x, uint32_t y, int32_t acc) {
  int64_t s = (int64_t)acc + (int16_t)(x & 0xFFFFu) * (int16_t)(y & 0xFFFFu) +
              (int16_t)(x >> 16) * (int16_t)(y >> 16);
  return (int32_t)(uint32_t)(uint64_t)s; /* SMLAD wraps */
}
MIXQ_INLINE uint32_t mixq_ssub8(uint32_t x, uint32_t y) {
  uint32_t r = 0;
  for (int32_t k = 0; k < 32; k += 8) r |= (((x >> k) - (y >> k)) & 0xFFu) << k;
  return r;
}
MIXQ_INLINE uint32_t mixq_usada8(uint32_t x, uint32_t acc) {
  return acc + (x & 0xFFu) + ((x >> 8) & 0xFFu) + ((x >> 16) & 0xFFu) + (x >> 24);
}
MIXQ_INLINE int32_t mixq_smmul(int32_t x, int32_t y) {
  return (int32_t)(((int64_t)x * y) >> 32);
}
MIXQ_INLINE int32_t mixq_ssat(int32_t y, int32_t bits) {
  const int32_t hi = (1 << (bits - 1)) - 1;
  return y < -hi - 1 ? -hi - 1 : (y > hi ? hi : y);
}
MIXQ_INLINE int32_t mixq_usat(int32_t y, int32_t bits) {
  const int32_t hi = (1 << bits) - 1;
  return y < 0 ? 0 : (y > hi ? hi : y);
}
MIXQ_INLINE uint32_t mixq_pkhbt16(uint32_t x, uint32_t y) { return (x & 0xFFFFu) | y << 16; }
MIXQ_INLINE uint32_t mixq_pkhtb16(uint32_t x, uint32_t y) {
  return x >> 16 | (y & 0xFFFF0000u);
}
MIXQ_INLINE int32_t mixq_smladx(uint32_t x, uint32_t y, int32_t acc) {
  return mixq_smlad(x, y >> 16 | y << 16, acc);
}
MIXQ_INLINE int32_t mixq_smlabb(uint32_t x, uint32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)((int16_t)(x & 0xFFFFu) * (int16_t)(y & 0xFFFFu)));
}
MIXQ_INLINE int32_t mixq_smlatb(uint32_t x, uint32_t y, int32_t acc) {
  return mixq_smlabb(x >> 16, y, acc);
}
#define MIXQ_LDRD(lo, hi, ptr) \
  do { (lo) = (ptr)[0]; (hi) = (ptr)[1]; (ptr) += 2; } while (0)
#endif

/* x, hidden from constant folding (keeps a constant in a register) */
MIXQ_INLINE uint32_t mixq_opaque(uint32_t x) {
#if defined(__GNUC__)
  __asm__("" : "+r"(x));
#endif
  return x;
}

MIXQ_INLINE uint32_t mixq_dsp_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* one unaligned LDR on ARMv7-M */
  return v;
}

/* ---- weight widening ---- */

/* Lane words (2k, 2k + 1) of weight word w: x0 gets lanes (4k', ...) per mixq_dsp.h. For s8,
 * k is 0 and the word gives both; for s4 / s2, k = 0 .. 16 / bits / 2 - 1. */
MIXQ_INLINE void mixq_dsp_widen(uint32_t w, int32_t k, int32_t bits, uint32_t *x0,
                                uint32_t *x1) {
  if (bits == 8) {
    *x0 = mixq_sxtb16(w);
    *x1 = mixq_sxtb16_ror8(w);
  } else {
    const uint32_t mask = bits == 4 ? 0x000F000Fu : 0x00030003u;
    *x0 = (w >> (2 * k * bits)) & mask;
    *x1 = (w >> ((2 * k + 1) * bits)) & mask;
  }
}

/* ---- requantization and stores ---- */

/* ICN requantization y = clamp((acc * multiplier + bias) >> shift) (bias int64 in product units,
 * rounding half included). shift >= 32 is the common case: the 64-bit sum is one SMLAL and the
 * shift reads its high word only, floor(v / 2^(32 + t)) == (v >> 32) >> t for t = shift - 32. */
MIXQ_INLINE int32_t mixq_dsp_requant(int32_t acc, int64_t bias, int32_t multiplier, int32_t shift,
                                     int32_t act_min, int32_t act_max) {
  const int64_t v = (int64_t)acc * multiplier + bias;
  int32_t y;
  if (__builtin_expect(shift >= 32, 1)) {
    y = (int32_t)(v >> 32) >> (shift - 32);
  } else {
    const int64_t w = v >> shift;
    return w < act_min ? act_min : (w > act_max ? act_max : (int32_t)w);
  }
  return y < act_min ? act_min : (y > act_max ? act_max : y);
}

/* Store output code y of channel c of a packed pixel (bits 8, 4 or 2). */
MIXQ_INLINE void mixq_dsp_store(uint8_t *px, int32_t c, int32_t y, int32_t bits) {
  if (bits == 8) {
    px[c] = (uint8_t)y;
  } else {
    const int32_t log_per_byte = bits == 4 ? 1 : 2;
    const int32_t sh = (c & ((1 << log_per_byte) - 1)) * bits;
    const uint32_t mask = ((1u << bits) - 1u) << sh;
    uint8_t *b = px + (c >> log_per_byte);
    *b = (uint8_t)((*b & ~mask) | (((uint32_t)y << sh) & mask));
  }
}

/* The general rule as a call: keeps the 64-bit shift out of the unrolled output loops. */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static int32_t mixq_dsp_requant_call(int32_t acc, int64_t b, int32_t m, int32_t sh, int32_t lo,
                                     int32_t hi) {
  return mixq_dsp_requant(acc, b, m, sh, lo, hi);
}

/* Output formats: unsigned full-range codes of 8, 4 or 2 bits (USAT), signed full-range 8-bit
 * codes (SSAT: the un-activated outputs that feed residual adds), or anything else. */
enum { MIXQ_OUT_ANY = 0, MIXQ_OUT_U2 = 2, MIXQ_OUT_U4 = 4, MIXQ_OUT_U8 = 8, MIXQ_OUT_S8 = 16 };

MIXQ_INLINE int32_t mixq_dsp_out_mode(const mixq_conv_params_t *p) {
  const int32_t b = p->out_bits;
  if (p->out_signed) {
    return (b == 8 && p->act_min == -128 && p->act_max == 127) ? MIXQ_OUT_S8 : MIXQ_OUT_ANY;
  }
  return (p->act_min == 0 && p->act_max == (1 << b) - 1) ? b : MIXQ_OUT_ANY;
}

/* Code width of output mode `mode` (out_bits for MIXQ_OUT_ANY). */
MIXQ_INLINE int32_t mixq_dsp_mode_bits(int32_t mode, int32_t out_bits) {
  return mode == MIXQ_OUT_ANY ? out_bits : (mode == MIXQ_OUT_S8 ? 8 : mode);
}

/* Requantized code of acc for output mode `mode` (a constant after inlining). The fast path is
 * the ICN rule with one SMLAL and the high product word only (see mixq_dsp_requant) and a USAT
 * (SSAT) clamp; t = shift - 32. */
MIXQ_INLINE int32_t mixq_dsp_code(int32_t acc, int64_t b, int32_t m, int32_t sh, int32_t t,
                                  int32_t mode, int32_t lo, int32_t hi) {
  if (mode != MIXQ_OUT_ANY && __builtin_expect(sh >= 32, 1)) {
    const int32_t v = (int32_t)(((int64_t)acc * m + b) >> 32) >> t;
    return mode == MIXQ_OUT_U8   ? mixq_usat(v, 8)
           : mode == MIXQ_OUT_S8 ? mixq_ssat(v, 8)
           : mode == MIXQ_OUT_U4 ? mixq_usat(v, 4)
                                 : mixq_usat(v, 2);
  }
  return mixq_dsp_requant_call(acc, b, m, sh, lo, hi);
}

/* Pack n codes (one per byte, any value: only the low `bits` bits are kept) into packed bytes
 * at out (bits 4 or 2; out byte k holds codes k * 8 / bits ...). One output word at a time
 * (8 u4 or 16 u2 codes) with shifts and ORs inside words, then the remaining codes. */
MIXQ_INLINE void mixq_dsp_pack_codes(const uint8_t *codes, int32_t n, int32_t bits,
                                     uint8_t *out) {
  const int32_t per = 8 / bits, group = 4 * per; /* codes per output word */
  const int32_t full = n / group * group;
  const uint32_t mask = 0x01010101u * ((1u << bits) - 1u);
  int32_t ch = 0;
  for (; ch < full; ch += group, codes += group, out += 4) {
    uint32_t word;
    if (bits == 4) {
      uint32_t v0 = mixq_dsp_load32(codes) & mask, v1 = mixq_dsp_load32(codes + 4) & mask;
      v0 |= v0 >> 4; /* bytes 0, 2: (c0 | c1 << 4), (c2 | c3 << 4) */
      v1 |= v1 >> 4;
      v0 = mixq_uxtb16(v0);
      v1 = mixq_uxtb16(v1);
      word = mixq_pkhbt16(v0 | v0 >> 8, v1 | v1 >> 8);
    } else {
      word = 0;
      for (int32_t q = 0; q < 4; q++) {
        uint32_t v = mixq_dsp_load32(codes + 4 * q) & mask;
        v |= v >> 6; /* bytes 0, 2: (c0 | c1 << 2), (c2 | c3 << 2) */
        v |= v >> 12;
        word |= (v & 0xFFu) << (8 * q);
      }
    }
    memcpy(out, &word, 4);
  }
  for (; ch < n; ch += per) {
    uint32_t v = 0;
    for (int32_t q = 0; q < per && ch + q < n; q++) {
      v |= (uint32_t)(codes[q] & ((1u << bits) - 1u)) << (q * bits);
    }
    codes += per;
    *out++ = (uint8_t)v;
  }
}

/* ---- activation widening ---- */

/* Emit two lane words (one group of four lanes), then move to the next group. */
#define MIXQ_EMIT2(d, stride, w0, w1) \
  do { (d)[0] = (w0); (d)[1] = (w1); (d) += (stride); } while (0)

/* Widen n unsigned <bits>-bit codes (packed, lowest code in the lowest bits) into int16 lanes,
 * 32 / bits codes per source word, in the lane order of the file comment; lanes past n up to the
 * next whole word are zero. Lanes are written in groups of four (two words, one LDRD), each
 * group `stride` words after the previous one (2: a dense column; 8: one of four interleaved
 * columns). Reads only the ceil(n * bits / 8) source bytes. Adds the sum of the codes to *sum
 * when sum is not NULL. Returns the position of the next group. */
MIXQ_INLINE mixq_u32a *mixq_dsp_expand(mixq_u32a *d, const uint8_t *src, int32_t n,
                                       int32_t bits, int32_t stride, int32_t *sum) {
  const int32_t per_word = 32 / bits;
  const int32_t full = n / per_word;
  const int32_t tail = n - full * per_word;
  uint32_t total = 0;
  for (int32_t i = 0; i <= full; i++) {
    uint32_t x;
    if (i < full) {
      x = mixq_dsp_load32(src + 4 * i);
    } else {
      if (tail == 0) break;
      const uint8_t *s = src + 4 * full;
      const int32_t nbytes = (tail * bits + 7) / 8;
      x = 0;
      for (int32_t b = 0; b < nbytes; b++) x |= (uint32_t)s[b] << (8 * b);
      x &= (1u << (tail * bits)) - 1u; /* tail * bits < 32; drops padding bits */
    }
    if (bits == 8) {
      if (sum) total = mixq_usada8(x, total);
      MIXQ_EMIT2(d, stride, mixq_uxtb16(x), mixq_uxtb16_ror8(x));
    } else if (bits == 4) {
      const uint32_t l0 = x & 0x000F000Fu, l1 = (x >> 4) & 0x000F000Fu;
      const uint32_t l2 = (x >> 8) & 0x000F000Fu, l3 = (x >> 12) & 0x000F000Fu;
      if (sum) total = mixq_usada8(l0 + l1 + l2 + l3, total); /* each byte stays <= 60 */
      MIXQ_EMIT2(d, stride, l0, l1);
      MIXQ_EMIT2(d, stride, l2, l3);
    } else {
      for (int32_t k = 0; k < 8; k += 2) {
        const uint32_t l0 = (x >> (2 * k)) & 0x00030003u, l1 = (x >> (2 * k + 2)) & 0x00030003u;
        if (sum) total = mixq_usada8(l0 + l1, total);
        MIXQ_EMIT2(d, stride, l0, l1);
      }
    }
  }
  if (sum) *sum += (int32_t)total;
  return d;
}

#endif /* MIXQ_DSP_H */
