/* Reference windowed average pooling (mirrors mixq.ir.interpret's Pool2d, average, and
 * mixq.quant.integer.avgpool_divide: round half up). */
#include "mixq_kernels.h"

void mixq_avgpool2d_any(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch)
{
    (void)scratch;
    mixq_pool2d_walk(p, input, output, 0);
}
