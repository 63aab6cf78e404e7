/* Pack one code per byte into a packed tensor (the network input, when it is sub-byte). */
#include "mixq_kernels.h"

void mixq_pack_any(const mixq_pack_params_t *p, const uint8_t *input, uint8_t *output)
{
    const int32_t pixel_bytes = mixq_row_bytes(p->c, p->bits);
    for (int32_t px = 0; px < p->pixels; ++px) {
        for (int32_t c = 0; c < p->c; ++c) {
            const int32_t code = mixq_load_code(input + px * p->c, c, 8, p->is_signed);
            mixq_store_code(output + px * pixel_bytes, c, p->bits, code);
        }
    }
}
