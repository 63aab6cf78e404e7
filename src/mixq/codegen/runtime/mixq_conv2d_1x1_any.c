/* Reference pointwise 1x1 convolution, stride 1, no padding (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_conv2d_1x1_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t out_pixel_bytes =
        mixq_out_pixel_bytes(p->out_pixel_stride, p->out_c, p->out_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, p->w_bits);
    (void)scratch;
    for (int32_t i = 0; i < p->out_h * p->out_w; ++i) {
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            mixq_store_requantized(p, output + i * out_pixel_bytes, oc,
                                   mixq_pixels_dot(p, input + i * in_pixel_bytes,
                                                   p->weight + oc * w_row_bytes, p->w_bits, 1));
        }
    }
}
