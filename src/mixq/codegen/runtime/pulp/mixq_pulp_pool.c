/* PULP pooling split over the cluster cores (mixq_pulp.h): each core runs the portable loop on
 * its share, output rows of a windowed pool, blocks of 4 channels of a global average pool
 * (whole bytes of any code width: no two cores write one byte). */
#include "mixq_pulp.h"

/* Output rows [lo, hi) of a windowed pool: the same pool over the input rows they read. */
static void pulp_pool2d(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                        int32_t maximum)
{
    const int32_t in_row = p->in_w * mixq_row_bytes(p->c, p->in_bits);
    const int32_t out_row = p->out_w * mixq_out_pixel_bytes(p->out_pixel_stride, p->c,
                                                            p->out_bits);
    for (int32_t core = 0; core < MIXQ_PULP_CORES; core++) {
        int32_t lo, hi;
        mixq_pulp_fork(core);
        mixq_pulp_chunk(p->out_h, core, MIXQ_PULP_CORES, &lo, &hi);
        if (lo < hi) {
            const int32_t top = lo * p->stride_h - p->pad_top;  /* first input row of the share */
            const int32_t skip = top > 0 ? top : 0;
            mixq_pool2d_params_t q = *p;
            q.out_h = hi - lo;
            q.pad_top = skip - top;
            q.in_h = p->in_h - skip;
            mixq_pool2d_walk(&q, input + skip * in_row, output + lo * out_row, maximum);
        }
    }
    mixq_pulp_fork(-1);
}

void mixq_pulp_maxpool(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                       uint8_t *scratch)
{
    (void)scratch;
    pulp_pool2d(p, input, output, 1);
}

void mixq_pulp_avgpool2d(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch)
{
    (void)scratch;
    pulp_pool2d(p, input, output, 0);
}

void mixq_pulp_avgpool(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                       uint8_t *scratch)
{
    const int32_t blocks = (p->c + 3) / 4;
    (void)scratch;
    for (int32_t core = 0; core < MIXQ_PULP_CORES; core++) {
        int32_t lo, hi;
        mixq_pulp_fork(core);
        mixq_pulp_chunk(blocks, core, MIXQ_PULP_CORES, &lo, &hi);
        mixq_avgpool_channels(p, input, output, 4 * lo, 4 * hi < p->c ? 4 * hi : p->c);
    }
    mixq_pulp_fork(-1);
}
