/* Per-channel ICN requantization (mirrors mixq.quant.integer.requantize). */
#include "mixq_kernels.h"

int32_t mixq_requantize_s32(int32_t acc, int64_t bias, int32_t multiplier, int32_t shift,
                            int32_t act_min, int32_t act_max)
{
    return mixq_requantize_inline(acc, bias, multiplier, shift, act_min, act_max);
}
