/* Reference depthwise convolution (see mixq_kernels.h). */
#include "mixq_kernels.h"

void mixq_dwconv_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                     uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, p->w_bits);
    (void)scratch;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            for (int32_t c = 0; c < p->out_c; ++c) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const uint8_t *x = input + (iy * p->in_w + ix) * in_pixel_bytes;
                        const uint8_t *w = p->weight + (ky * p->k_w + kx) * w_row_bytes;
                        acc += mixq_load_code(x, c, p->in_bits, p->in_signed) *
                               mixq_load_code(w, c, p->w_bits, 1);
                    }
                }
                mixq_store_code(out_pixel, c, p->out_bits,
                                mixq_requantize_s32(acc, p->bias[c], p->multiplier[c], p->shift[c],
                                                    p->act_min, p->act_max));
            }
        }
    }
}
