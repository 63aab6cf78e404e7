/* Reference residual add (mirrors mixq.ir.interpret's Add). Element by element, each output code
 * written right after its inputs were read, so it may overwrite an input of at least as many
 * bits per code (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_add_any(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                  uint8_t *output, uint8_t *scratch)
{
    const int32_t a_pixel_bytes = mixq_row_bytes(p->c, p->a_bits);
    const int32_t b_pixel_bytes = mixq_row_bytes(p->c, p->b_bits);
    const int32_t out_pixel_bytes = mixq_row_bytes(p->c, p->out_bits);
    const int64_t rounding = (int64_t)1 << (p->shift - 1);
    (void)scratch;
    for (int32_t px = 0; px < p->pixels; ++px) {
        const uint8_t *a = input_a + px * a_pixel_bytes;
        const uint8_t *b = input_b + px * b_pixel_bytes;
        uint8_t *y = output + px * out_pixel_bytes;
        for (int32_t c = 0; c < p->c; ++c) {
            const int64_t total =
                (int64_t)mixq_load_code(a, c, p->a_bits, p->a_signed) * p->multiplier_a +
                (int64_t)mixq_load_code(b, c, p->b_bits, p->b_signed) * p->multiplier_b + rounding;
            mixq_store_code(y, c, p->out_bits,
                            mixq_clamp(mixq_asr64(total, p->shift), p->act_min, p->act_max));
        }
    }
}
