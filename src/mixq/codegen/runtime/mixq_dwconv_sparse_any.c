/* Portable dense-ternary + sparse-int8 depthwise convolution (see mixq_sparse.h). */
#include "mixq_sparse.h"

void mixq_dwconv_sparse_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                            uint8_t *scratch)
{
    mixq_sparse_blob_t s;
    mixq_sparse_window_t win;
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, 2);
    (void)scratch;
    mixq_sparse_open(p->weight, &s);
    win.input = input;
    win.in_h = p->in_h;
    win.in_w = p->in_w;
    win.px_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    win.bits = p->in_bits;
    win.is_signed = p->in_signed;
    win.k_w = p->k_w;
    win.c_px = 1;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            mixq_sparse_cursor_t cur = {0, 0, 0};
            win.iy0 = oy * p->stride_h - p->pad_top;
            win.ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < p->out_c; ++c) {
                int32_t dense = 0;
                for (int32_t ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = win.iy0 + ky;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = win.ix0 + kx;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const uint8_t *x = input + (iy * p->in_w + ix) * win.px_bytes;
                        const uint8_t *w = s.dense + (ky * p->k_w + kx) * w_row_bytes;
                        dense += mixq_load_code(x, c, p->in_bits, p->in_signed) *
                                 mixq_load_code(w, c, 2, 1);
                    }
                }
                win.channel0 = c; /* the row of channel c reads channel c only */
                const int32_t acc = mixq_sparse_scale(&s, c) * dense +
                                    mixq_sparse_row_dot(&s, &cur, c, &win);
                mixq_store_code(out_pixel, c, p->out_bits,
                                mixq_requantize_s32(acc, p->bias[c], p->multiplier[c], p->shift[c],
                                                    p->act_min, p->act_max));
            }
        }
    }
}
