/* mixq ARMv7E-M DSP kernels: declarations and shared inline helpers (SMLAD/SXTB16 via ACLE).
 *
 * Integer rule (mixq.quant.integer, mirrored exactly):
 *   y = clamp(((acc + bias) * multiplier + (1 << (shift - 1))) >> shift, act_min, act_max)
 * with a 64-bit product and an arithmetic (floor) shift, shift in [1, 62].
 *
 * Lanes: the kernels multiply int16 lanes with SMLAD. Unsigned activation codes (u8/u4/u2, packed
 * NHWC, see mixq_types.h) are widened to int16 lanes by mixq_dsp_expand(); signed weight codes
 * (s8/s4/s2/ternary) are widened in the inner loop from 32-bit words reordered offline by
 * mixq.codegen.kernels_armv7em, so that both sides list the same codes in the same lane order.
 * Inside a 32-bit word of b-bit codes (E = 8 / b codes per byte), lane l holds the code at byte
 * (0, 2, 1, 3)[l % 4], position l / 4: SXTB16 / UXTB16 take bytes 0 and 2, with ROR #8 bytes 1
 * and 3. Sub-byte weights are widened pre-scaled (code moved to the top of its byte and masked,
 * so SXTB16 sign-extends it): an s4 code w becomes 16 * w, an s2 code 64 * w; the accumulator is
 * scaled back with an exact arithmetic shift before requantization.
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
void mixq_conv2d_dsp_s8(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch);
void mixq_conv2d_dsp_s4(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch);
void mixq_conv2d_dsp_s2(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch);

/* Depthwise 3x3, stride 1 or 2, any zero padding, unsigned input codes; weights in the
 * reference layout ((k_h, k_w) rows of in_c codes); scratch: mixq_dwconv3x3_dsp_scratch_bytes(p)
 * bytes, 4-byte aligned. */
int32_t mixq_dwconv3x3_dsp_scratch_bytes(const mixq_conv_params_t *p);
void mixq_dwconv3x3_dsp(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch);

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
#define MIXQ_LDRD(lo, hi, ptr) \
  do { (lo) = (ptr)[0]; (hi) = (ptr)[1]; (ptr) += 2; } while (0)
#endif

MIXQ_INLINE uint32_t mixq_dsp_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* one unaligned LDR on ARMv7-M */
  return v;
}

/* ---- requantization and stores ---- */

/* ICN requantization of x = acc + bias. shift > 32 is the common case, done with the high word
 * of the product only: floor((q * 2^32 + r + 2^(31 + t)) / 2^(32 + t)) equals
 * floor((q + 2^(t - 1)) / 2^t) for 0 <= r < 2^32, t = shift - 32 >= 1. */
MIXQ_INLINE int32_t mixq_dsp_requant(int32_t x, int32_t multiplier, int32_t shift,
                                     int32_t act_min, int32_t act_max) {
  int32_t y;
  if (__builtin_expect(shift > 32, 1)) {
    const int32_t t = shift - 32;
    const int32_t hi = (int32_t)(((int64_t)x * multiplier) >> 32);
    y = (hi + (1 << (t - 1))) >> t;
  } else {
    const int64_t v = ((int64_t)x * multiplier + ((int64_t)1 << (shift - 1))) >> shift;
    return v < act_min ? act_min : (v > act_max ? act_max : (int32_t)v);
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

/* ---- activation widening ---- */

/* Widen n unsigned <bits>-bit codes (packed, lowest code in the lowest bits) into int16 lanes,
 * 32 / bits codes per word in the lane order of the file comment; lanes past n up to the next
 * whole word are zero. Reads only the ceil(n * bits / 8) source bytes. Returns dst's end. */
MIXQ_INLINE int16_t *mixq_dsp_expand(int16_t *dst, const uint8_t *src, int32_t n,
                                     int32_t bits) {
  mixq_u32a *d = (mixq_u32a *)(void *)dst;
  const int32_t per_word = 32 / bits;
  const int32_t full = n / per_word;
  const int32_t tail = n - full * per_word;
  for (int32_t i = 0; i < full; i++) {
    const uint32_t x = mixq_dsp_load32(src + 4 * i);
    if (bits == 8) {
      d[0] = mixq_uxtb16(x);
      d[1] = mixq_uxtb16_ror8(x);
      d += 2;
    } else if (bits == 4) {
      const uint32_t lo = x & 0x0F0F0F0Fu, hi = (x >> 4) & 0x0F0F0F0Fu;
      d[0] = mixq_uxtb16(lo);
      d[1] = mixq_uxtb16_ror8(lo);
      d[2] = mixq_uxtb16(hi);
      d[3] = mixq_uxtb16_ror8(hi);
      d += 4;
    } else {
      for (int32_t j = 0; j < 4; j++) {
        const uint32_t v = (x >> (2 * j)) & 0x03030303u;
        d[0] = mixq_uxtb16(v);
        d[1] = mixq_uxtb16_ror8(v);
        d += 2;
      }
    }
  }
  if (tail) {
    const uint8_t *s = src + 4 * full;
    const int32_t nbytes = (tail * bits + 7) / 8;
    const uint32_t code_mask = 0x01010101u * ((1u << bits) - 1u);
    uint32_t x = 0;
    for (int32_t i = 0; i < nbytes; i++) x |= (uint32_t)s[i] << (8 * i);
    x &= (1u << (tail * bits)) - 1u; /* tail * bits < 32; drops padding bits */
    for (int32_t j = 0; j < 8 / bits; j++) {
      const uint32_t v = (x >> (bits * j)) & code_mask;
      d[0] = mixq_uxtb16(v);
      d[1] = mixq_uxtb16_ror8(v);
      d += 2;
    }
  }
  return (int16_t *)(void *)d;
}

#endif /* MIXQ_DSP_H */
