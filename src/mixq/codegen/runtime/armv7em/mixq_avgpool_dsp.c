/* Global average pooling of u8 codes on ARMv7E-M (see mixq_eltwise_dsp.h). */
#include "mixq_eltwise_dsp.h"

#define MIXQ_POOL_LANE_PIXELS 257 /* 255 * 257 = 65535: a 16-bit lane cannot wrap */

static inline uint8_t mixq_pool_mean(uint32_t total, uint32_t count)
{
    return (uint8_t)((total + count / 2u) / count); /* floor((sum + n / 2) / n), sum >= 0 */
}

void mixq_avgpool_dsp_u8(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch)
{
    const int32_t c = p->c;
    const uint32_t count = (uint32_t)(p->in_h * p->in_w);
    int32_t ch = 0;
    (void)scratch;
    for (; ch + 4 <= c; ch += 4) {
        uint32_t total[4] = {0u, 0u, 0u, 0u};
        const uint8_t *x = input + ch;
        for (uint32_t px = 0; px < count;) {
            const uint32_t end = px + MIXQ_POOL_LANE_PIXELS < count ? px + MIXQ_POOL_LANE_PIXELS
                                                                   : count;
            uint32_t even = 0u, odd = 0u; /* lanes: channels (0, 2) and (1, 3) */
            for (; px < end; ++px, x += c) {
                uint32_t w;
                memcpy(&w, x, 4); /* one LDR (unaligned access is allowed on ARMv7E-M) */
                even = mixq_ew_uxtab16(even, w);
                odd = mixq_ew_uxtab16_ror8(odd, w);
            }
            total[0] += even & 0xFFFFu;
            total[1] += odd & 0xFFFFu;
            total[2] += even >> 16;
            total[3] += odd >> 16;
        }
        for (int32_t k = 0; k < 4; ++k) {
            output[ch + k] = mixq_pool_mean(total[k], count);
        }
    }
    for (; ch < c; ++ch) { /* the last c % 4 channels */
        uint32_t total = 0u;
        for (uint32_t px = 0; px < count; ++px) {
            total += input[px * (uint32_t)c + (uint32_t)ch];
        }
        output[ch] = mixq_pool_mean(total, count);
    }
}
