/* Portable dense-ternary + sparse-int8 fully connected layer (see mixq_sparse.h). */
#include "mixq_sparse.h"

void mixq_fully_connected_sparse_any(const mixq_conv_params_t *p, const uint8_t *input,
                                     uint8_t *output, uint8_t *scratch)
{
    mixq_sparse_blob_t s;
    /* the window is the whole input */
    const mixq_sparse_window_t win = mixq_sparse_window(p, input, p->in_w, p->in_c);
    mixq_sparse_cursor_t cur = {0, 0, 0};
    const int32_t pixels = p->in_h * p->in_w;
    const int32_t filter_bytes = pixels * mixq_row_bytes(p->in_c, 2);
    (void)scratch;
    mixq_sparse_open(p->weight, &s);
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        /* dense ternary filter oc: (in_h * in_w) rows of in_c 2-bit codes */
        const int32_t dense = mixq_pixels_dot(p, input, s.dense + oc * filter_bytes, 2, pixels);
        mixq_sparse_store_row(p, &s, &cur, &win, output, oc, dense);
    }
}
