/* Unpack a packed tensor into one code per byte (the network output, when it is sub-byte). */
#include "mixq_kernels.h"

void mixq_unpack_any(const mixq_pack_params_t *p, const uint8_t *input, uint8_t *output)
{
    const int32_t pixel_bytes = mixq_row_bytes(p->c, p->bits);
    for (int32_t px = 0; px < p->pixels; ++px) {
        for (int32_t c = 0; c < p->c; ++c) {
            const int32_t code = mixq_load_code(input + px * pixel_bytes, c, p->bits, p->is_signed);
            output[px * p->c + c] = (uint8_t)((uint32_t)code & 0xffu);
        }
    }
}
