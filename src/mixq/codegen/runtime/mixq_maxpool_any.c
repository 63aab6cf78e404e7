/* Reference windowed max pooling (mirrors mixq.ir.interpret's Pool2d, maximum). */
#include "mixq_kernels.h"

void mixq_maxpool_any(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch)
{
    (void)scratch;
    mixq_pool2d_walk(p, input, output, 1);
}
