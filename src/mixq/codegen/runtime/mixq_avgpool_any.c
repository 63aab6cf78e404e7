/* Reference global average pooling (mirrors mixq.quant.integer.avgpool_divide). */
#include "mixq_kernels.h"

void mixq_avgpool_any(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch)
{
    (void)scratch;
    mixq_avgpool_channels(p, input, output, 0, p->c);
}
