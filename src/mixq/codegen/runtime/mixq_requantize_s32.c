/* Per-channel ICN requantization (mirrors mixq.quant.integer.requantize). */
#include "mixq_kernels.h"

int32_t mixq_requantize_s32(int32_t acc, int64_t bias, int32_t multiplier, int32_t shift,
                            int32_t act_min, int32_t act_max)
{
    const int64_t scaled = (int64_t)acc * multiplier + bias;
    return mixq_clamp(mixq_asr64(scaled, shift), act_min, act_max);
}
