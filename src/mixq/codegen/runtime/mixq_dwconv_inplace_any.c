/* Reference depthwise convolution that may overwrite its own input (see mixq_kernels.h).
 *
 * Input rows are copied into a ring of min(k_h, in_h) rows in `scratch` just before the first
 * output row that needs them; the output row is then computed from the ring only, so writing it
 * over the input is safe as long as no input row is overwritten before it was copied. */
#include <string.h>

#include "mixq_kernels.h"

int32_t mixq_dwconv_inplace_any_scratch_bytes(const mixq_conv_params_t *p)
{
    const int32_t ring_rows = p->k_h < p->in_h ? p->k_h : p->in_h;
    return ring_rows * p->in_w * mixq_row_bytes(p->in_c, p->in_bits);
}

void mixq_dwconv_inplace_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                             uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, p->w_bits);
    const int32_t row_bytes = p->in_w * in_pixel_bytes;
    const int32_t ring_rows = p->k_h < p->in_h ? p->k_h : p->in_h;
    int32_t next_row = 0; /* first input row not yet copied into the ring */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t top = oy * p->stride_h - p->pad_top;
        const int32_t last = top + p->k_h - 1 < p->in_h - 1 ? top + p->k_h - 1 : p->in_h - 1;
        if (next_row < top) {
            next_row = top; /* rows skipped by the stride are never needed */
        }
        for (; next_row <= last; ++next_row) {
            memcpy(scratch + (next_row % ring_rows) * row_bytes, input + next_row * row_bytes,
                   (size_t)row_bytes);
        }
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            for (int32_t c = 0; c < p->out_c; ++c) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = top + ky;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    const uint8_t *ring_row = scratch + (iy % ring_rows) * row_bytes;
                    for (int32_t kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const uint8_t *w = p->weight + (ky * p->k_w + kx) * w_row_bytes;
                        acc += mixq_load_code(ring_row + ix * in_pixel_bytes, c, p->in_bits,
                                              p->in_signed) *
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
