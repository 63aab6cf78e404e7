/* Portable dense-ternary + sparse-int8 fully connected layer (see mixq_sparse.h). */
#include "mixq_sparse.h"

void mixq_fully_connected_sparse_any(const mixq_conv_params_t *p, const uint8_t *input,
                                     uint8_t *output, uint8_t *scratch)
{
    mixq_sparse_blob_t s;
    mixq_sparse_window_t win;
    mixq_sparse_cursor_t cur = {0, 0, 0};
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, 2);
    const int32_t pixels = p->in_h * p->in_w;
    (void)scratch;
    mixq_sparse_open(p->weight, &s);
    win.input = input;
    win.in_h = p->in_h;
    win.in_w = p->in_w;
    win.px_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    win.bits = p->in_bits;
    win.is_signed = p->in_signed;
    win.iy0 = 0;
    win.ix0 = 0;
    win.k_w = p->in_w; /* the window is the whole input */
    win.c_px = p->in_c;
    win.channel0 = 0;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t dense = 0;
        for (int32_t px = 0; px < pixels; ++px) {
            const uint8_t *x = input + px * win.px_bytes;
            const uint8_t *w = s.dense + (oc * pixels + px) * w_row_bytes;
            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                dense += mixq_load_code(x, ic, p->in_bits, p->in_signed) *
                         mixq_load_code(w, ic, 2, 1);
            }
        }
        const int32_t acc = mixq_sparse_scale(&s, oc) * dense +
                            mixq_sparse_row_dot(&s, &cur, oc, &win);
        mixq_store_code(output, oc, p->out_bits,
                        mixq_requantize_s32(acc, p->bias[oc], p->multiplier[oc], p->shift[oc],
                                            p->act_min, p->act_max));
    }
}
