/* Reference fully connected layer over the HWC-flattened input (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_fully_connected_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                              uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, p->w_bits);
    const int32_t pixels = p->in_h * p->in_w;
    (void)scratch;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = 0;
        for (int32_t px = 0; px < pixels; ++px) {
            const uint8_t *x = input + px * in_pixel_bytes;
            const uint8_t *w = p->weight + (oc * pixels + px) * w_row_bytes;
            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                acc += mixq_load_code(x, ic, p->in_bits, p->in_signed) *
                       mixq_load_code(w, ic, p->w_bits, 1);
            }
        }
        mixq_store_code(output, oc, p->out_bits,
                        mixq_requantize_s32(acc, p->bias[oc], p->multiplier[oc], p->shift[oc],
                                            p->act_min, p->act_max));
    }
}
