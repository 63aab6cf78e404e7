/* Reference fully connected layer over the HWC-flattened input (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_fully_connected_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                              uint8_t *scratch)
{
    const int32_t pixels = p->in_h * p->in_w;
    const int32_t filter_bytes = pixels * mixq_row_bytes(p->in_c, p->w_bits);
    (void)scratch;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        /* filter oc: (in_h * in_w) rows of in_c codes */
        mixq_store_requantized(p, output, oc,
                               mixq_pixels_dot(p, input, p->weight + oc * filter_bytes, p->w_bits,
                                               pixels));
    }
}
