/* Reference channel concat (mirrors mixq.ir.interpret's Concat and mixq.quant.integer.Rescale). */
#include "mixq_kernels.h"

void mixq_concat_any(const mixq_concat_params_t *p, const uint8_t *const *inputs,
                     uint8_t *output, uint8_t *scratch)
{
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    (void)scratch;
    for (int32_t px = 0; px < p->pixels; ++px) {
        uint8_t *y = output + px * out_pixel_bytes;
        int32_t oc = 0;
        for (int32_t i = 0; i < p->n_inputs; ++i) {
            const mixq_concat_input_t *in = &p->inputs[i];
            const uint8_t *x = inputs[i] + px * mixq_row_bytes(in->c, in->bits);
            const int64_t rounding = in->shift > 0 ? (int64_t)1 << (in->shift - 1) : 0;
            for (int32_t c = 0; c < in->c; ++c, ++oc) {
                const int64_t v = (int64_t)mixq_load_code(x, c, in->bits, in->is_signed);
                mixq_store_code(y, oc, p->out_bits,
                                mixq_clamp(mixq_asr64(v * in->multiplier + rounding, in->shift),
                                           p->act_min, p->act_max));
            }
        }
    }
}
