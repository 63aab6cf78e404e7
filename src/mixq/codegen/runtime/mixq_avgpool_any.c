/* Reference global average pooling (mirrors mixq.quant.integer.avgpool_divide). */
#include "mixq_kernels.h"

void mixq_avgpool_any(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->c, p->in_bits);
    const int32_t count = p->in_h * p->in_w;
    (void)scratch;
    for (int32_t c = 0; c < p->c; ++c) {
        int64_t total = 0;
        for (int32_t px = 0; px < count; ++px) {
            total += mixq_load_code(input + px * in_pixel_bytes, c, p->in_bits, p->in_signed);
        }
        mixq_store_code(output, c, p->out_bits,
                        (int32_t)mixq_floor_div(total + count / 2, count));
    }
}
