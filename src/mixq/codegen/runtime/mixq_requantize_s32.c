/* Per-channel ICN requantization (mirrors mixq.quant.integer.requantize). */
#include "mixq_kernels.h"

int32_t mixq_requantize_s32(int32_t acc, int32_t bias, int32_t multiplier, int32_t shift,
                            int32_t act_min, int32_t act_max)
{
    const int64_t rounding = (int64_t)1 << (shift - 1);
    const int64_t scaled = ((int64_t)acc + bias) * multiplier + rounding;
    return mixq_clamp(mixq_asr64(scaled, shift), act_min, act_max);
}
