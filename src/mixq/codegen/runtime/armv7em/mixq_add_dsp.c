/* Residual add of 8-bit codes on ARMv7E-M (see mixq_eltwise_dsp.h): two SMLALs per element.
 *
 * (a * ma + b * mb + 2^(shift-1)) >> shift is computed as the high word of
 * (a << up) * ma + (b << up) * mb + 2^(shift-1+up), up = 32 - shift (shift <= 32), then shifted
 * right by shift - 32 (shift > 32): the same floor, no 64-bit shift. Needs shift >= 16 (checked
 * by mixq.codegen.kernels_armv7em_eltwise), so that the scaled codes fit 16 bits and the sum
 * int64. Element by element, each output byte written after its inputs were read: in place over
 * a or b is safe. */
#include "mixq_eltwise_dsp.h"

static inline __attribute__((always_inline)) void mixq_add_loop(
    const mixq_add_params_t *p, const uint8_t *a, const uint8_t *b, uint8_t *y, int32_t a_signed,
    int32_t b_signed, int32_t full_range)
{
    const int32_t n = p->pixels * p->c;
    const int32_t ma = p->multiplier_a, mb = p->multiplier_b, shift = p->shift;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t up = shift < 32 ? 32 - shift : 0, down = shift > 32 ? shift - 32 : 0;
    const int64_t rounding = (int64_t)1 << (shift - 1 + up);
    for (int32_t i = 0; i < n; ++i) {
        /* the shift on the unsigned pattern: a left shift of a negative int is undefined */
        const int32_t va = (int32_t)((uint32_t)(a_signed ? (int32_t)(int8_t)a[i] : a[i]) << up);
        const int32_t vb = (int32_t)((uint32_t)(b_signed ? (int32_t)(int8_t)b[i] : b[i]) << up);
        const int64_t t = rounding + (int64_t)va * ma + (int64_t)vb * mb;
        const int32_t v = (int32_t)(t >> 32) >> down;
        if (full_range) {
            y[i] = (uint8_t)mixq_ew_usat8(v);
        } else {
            y[i] = (uint8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
    }
}

void mixq_add_dsp_u8(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                     uint8_t *output, uint8_t *scratch)
{
    const int32_t full = p->act_min == 0 && p->act_max == 255;
    (void)scratch;
    /* one specialized loop per input signedness and clamp */
    if (p->a_signed && p->b_signed) {
        if (full) mixq_add_loop(p, input_a, input_b, output, 1, 1, 1);
        else mixq_add_loop(p, input_a, input_b, output, 1, 1, 0);
    } else if (p->a_signed) {
        if (full) mixq_add_loop(p, input_a, input_b, output, 1, 0, 1);
        else mixq_add_loop(p, input_a, input_b, output, 1, 0, 0);
    } else if (p->b_signed) {
        if (full) mixq_add_loop(p, input_a, input_b, output, 0, 1, 1);
        else mixq_add_loop(p, input_a, input_b, output, 0, 1, 0);
    } else {
        if (full) mixq_add_loop(p, input_a, input_b, output, 0, 0, 1);
        else mixq_add_loop(p, input_a, input_b, output, 0, 0, 0);
    }
}
