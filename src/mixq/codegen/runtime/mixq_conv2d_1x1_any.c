/* Reference pointwise 1x1 convolution, stride 1, no padding (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_conv2d_1x1_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, p->w_bits);
    const int32_t pixels = p->out_h * p->out_w;
    (void)scratch;
    for (int32_t i = 0; i < pixels; ++i) {
        const uint8_t *x = input + i * in_pixel_bytes;
        uint8_t *out_pixel = output + i * out_pixel_bytes;
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            const uint8_t *w = p->weight + oc * w_row_bytes;
            int32_t acc = 0;
            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                acc += mixq_load_code(x, ic, p->in_bits, p->in_signed) *
                       mixq_load_code(w, ic, p->w_bits, 1);
            }
            mixq_store_code(out_pixel, oc, p->out_bits,
                            mixq_requantize_s32(acc, p->bias[oc], p->multiplier[oc], p->shift[oc],
                                                p->act_min, p->act_max));
        }
    }
}
