/* mixq ARMv7E-M element-wise kernels: residual add and global average pooling of 8-bit codes.
 *
 * Same integer rules as the reference kernels (mixq.quant.integer, mirrored exactly):
 *  - add: y = clamp((a * multiplier_a + b * multiplier_b + 2^(shift-1)) >> shift, act_min,
 *    act_max), 64-bit products (SMLAL) and an arithmetic shift, shift in [16, 62];
 *  - global average pool: y = floor((sum + n / 2) / n), n = in_h * in_w, sums of four channels
 *    at a time in 16-bit lanes (UXTAB16), flushed to 32 bits every 257 pixels (255 * 257 fits
 *    16 bits).
 * 8-bit codes take one byte each (no packing), so both walk the tensors as flat byte arrays.
 * On a compiler without the ARM DSP extension (the host build) the same code compiles against
 * plain C versions of the instructions. */
#ifndef MIXQ_ELTWISE_DSP_H
#define MIXQ_ELTWISE_DSP_H

#include <stdint.h>
#include <string.h>

#include "mixq_types.h"

/* Residual add of 8-bit codes (u8 or s8 inputs), u8 output; may overwrite input a or b. */
void mixq_add_dsp_u8(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                     uint8_t *output, uint8_t *scratch);

/* The same rule, four elements per word with two SMLADs each (mixq_add_smlad.c): shift in
 * [16, 47], each multiplier below 2^31 - 2^15 in magnitude (its high halfword fits int16). */
void mixq_add_smlad_u8(const mixq_add_params_t *p, const uint8_t *input_a,
                       const uint8_t *input_b, uint8_t *output, uint8_t *scratch);

/* Global average pooling of u8 codes to u8 codes. No scratch. */
void mixq_avgpool_dsp_u8(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch);

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define mixq_ew_uxtab16(acc, x) __uxtab16((acc), (x)) /* acc + bytes 0 and 2 of x, per lane */
#define mixq_ew_usat8(x) __usat((x), 8)                /* clamp to [0, 255] */
static inline __attribute__((always_inline)) uint32_t mixq_ew_uxtab16_ror8(uint32_t acc,
                                                                            uint32_t x)
{
    uint32_t r; /* acc + bytes 1 and 3 of x, per lane */
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
#else
static inline uint32_t mixq_ew_uxtab16(uint32_t acc, uint32_t x)
{
    return ((acc + (x & 0xFFu)) & 0xFFFFu) | ((acc & 0xFFFF0000u) + ((x & 0xFF0000u)));
}
static inline uint32_t mixq_ew_uxtab16_ror8(uint32_t acc, uint32_t x)
{
    return mixq_ew_uxtab16(acc, x >> 8);
}
static inline int32_t mixq_ew_usat8(int32_t x) { return x < 0 ? 0 : (x > 255 ? 255 : x); }
#endif

#endif /* MIXQ_ELTWISE_DSP_H */
