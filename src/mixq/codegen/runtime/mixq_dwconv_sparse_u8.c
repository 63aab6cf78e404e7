/* Depthwise dense-ternary + sparse-int8 convolution, u8 input (see mixq_sparse.h).
 *
 * A channel's row has only k_h * k_w positions, so the effective integer weights k_c * T + S
 * (|w| <= max(k_c, 128) <= 32767: int16) are expanded into scratch once per call, four channels
 * at a time in the lane order of one input word: per group g of channels 4g .. 4g + 3 and tap t
 * two words, (w[4g], w[4g + 2]) and (w[4g + 1], w[4g + 3]) as int16 pairs, which multiply
 * UXTB16(x) and UXTB16(x ROR #8) of the four input codes with SMLABB / SMLATT: 8 instructions
 * per tap and four channels. C99 with the DSP instructions where the compiler has them
 * (__ARM_FEATURE_DSP), plain C twins elsewhere. */
#include <string.h>

#include "mixq_sparse.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define mixq_dws_uxtb16(x) __uxtb16(x)
#define mixq_dws_smlabb(x, y, acc) __smlabb((x), (y), (acc))
#define mixq_dws_smlatt(x, y, acc) __smlatt((x), (y), (acc))
static inline uint32_t mixq_dws_uxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); /* gcc 12 does not fold the rotate */
    return r;
}
#else
static inline uint32_t mixq_dws_uxtb16(uint32_t x) { return x & 0x00FF00FFu; }
static inline uint32_t mixq_dws_uxtb16_ror8(uint32_t x) { return (x >> 8) & 0x00FF00FFu; }
static inline int32_t mixq_dws_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
    return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(y & 0xFFFFu);
}
static inline int32_t mixq_dws_smlatt(uint32_t x, uint32_t y, int32_t acc)
{
    return acc + (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(y >> 16);
}
#endif

int32_t mixq_dwconv_sparse_u8_scratch_bytes(const mixq_conv_params_t *p)
{
    return 8 * p->k_h * p->k_w * ((p->in_c + 3) / 4);
}

/* Requantization constants, loaded once (output stores may alias *p for the compiler). */
typedef struct {
    const int64_t *bias;
    const int32_t *multiplier, *shift;
    int32_t lo, hi, bits;
} mixq_dws_rq_t;

static int32_t mixq_dws_requant_slow(int32_t acc, int64_t bias, int32_t multiplier,
                                     int32_t shift, int32_t lo, int32_t hi)
{
    return mixq_clamp(mixq_asr64((int64_t)acc * multiplier + bias, shift), lo, hi);
}

/* High word of acc * multiplier + bias (int64): one SMLAL (gcc 12 expands the C form into a
 * 64 x 64-bit multiply here). */
static inline uint32_t mixq_dws_mla_high(int32_t acc, int32_t multiplier, int64_t bias)
{
#if defined(__ARM_FEATURE_DSP)
    uint32_t lo = (uint32_t)((uint64_t)bias & 0xFFFFFFFFu), hi = (uint32_t)((uint64_t)bias >> 32);
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(multiplier));
    return hi;
#else
    return (uint32_t)((uint64_t)((int64_t)acc * multiplier + bias) >> 32);
#endif
}

/* The ICN rule (mixq_requantize_s32). For shift >= 32 (the common case) the floor shift reads
 * the high word only, without a signed shift: floor(v / 2^shift) = floor((v + 2^63) / 2^shift)
 * - 2^(63 - shift), and v + 2^63 is v's bits with the top one flipped, as uint64. */
static inline void mixq_dws_store(const mixq_dws_rq_t *rq, uint8_t *px, int32_t c, int32_t acc)
{
    const int32_t shift = rq->shift[c];
    int32_t y;
    if (shift > 32) {
        const uint32_t top = mixq_dws_mla_high(acc, rq->multiplier[c], rq->bias[c]) ^ 0x80000000u;
        const int32_t t = shift - 32;
        y = (int32_t)(top >> t) - (int32_t)(0x80000000u >> t);
        y = y < rq->lo ? rq->lo : (y > rq->hi ? rq->hi : y);
    } else {
        y = mixq_dws_requant_slow(acc, rq->bias[c], rq->multiplier[c], shift, rq->lo, rq->hi);
    }
    if (rq->bits == 8) {
        px[c] = (uint8_t)((uint32_t)y & 0xffu);
    } else {
        mixq_store_code(px, c, rq->bits, y);
    }
}

/* Expand the effective weights into scratch (see the file comment). */
static void mixq_dws_expand(const mixq_conv_params_t *p, const mixq_sparse_blob_t *s,
                            int16_t *w16, int32_t *row)
{
    static const int32_t lane_of_channel[4] = {0, 2, 1, 3}; /* int16 slot inside the group */
    mixq_sparse_cursor_t cur = {0, 0, 0};
    const int32_t taps = p->k_h * p->k_w, w_row_bytes = mixq_row_bytes(p->in_c, 2);
    for (int32_t c = 0; c < 4 * ((p->in_c + 3) / 4); ++c) {
        const int32_t g = c / 4, lane = lane_of_channel[c % 4];
        if (c < p->in_c) {
            const int32_t k = mixq_sparse_scale(s, c);
            for (int32_t t = 0; t < taps; ++t) {
                row[t] = k * mixq_load_code(s->dense + t * w_row_bytes, c, 2, 1);
            }
            (void)mixq_sparse_row_apply(s, &cur, c, NULL, row, 1); /* T is 0 there: S */
        }
        for (int32_t t = 0; t < taps; ++t) {
            w16[(g * taps + t) * 4 + lane] = (int16_t)(c < p->in_c ? row[t] : 0);
        }
    }
}

/* One tap of four channels: input word at xp, weight words w[i], w[i + 2] (int16 pairs). */
#define MIXQ_DWS_TAP(xp, w, i)                                    \
    do {                                                          \
        uint32_t xw_, w02_, w13_;                                 \
        memcpy(&xw_, (xp), 4); /* one unaligned LDR */            \
        memcpy(&w02_, (w) + (i), 4);                              \
        memcpy(&w13_, (w) + (i) + 2, 4);                          \
        const uint32_t a_ = mixq_dws_uxtb16(xw_);                 \
        const uint32_t b_ = mixq_dws_uxtb16_ror8(xw_);            \
        s0 = mixq_dws_smlabb(a_, w02_, s0);                       \
        s2 = mixq_dws_smlatt(a_, w02_, s2);                       \
        s1 = mixq_dws_smlabb(b_, w13_, s1);                       \
        s3 = mixq_dws_smlatt(b_, w13_, s3);                       \
    } while (0)

void mixq_dwconv_sparse_u8(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                           uint8_t *scratch)
{
    mixq_sparse_blob_t s;
    const int32_t c_n = p->in_c, taps = p->k_h * p->k_w, full = c_n / 4;
    const int32_t out_pixel_bytes = mixq_row_bytes(p->out_c, p->out_bits);
    int16_t *w16 = (int16_t *)(void *)scratch;
    int32_t row[64]; /* one channel's taps during the expansion */
    const mixq_dws_rq_t rq = {p->bias, p->multiplier, p->shift, p->act_min, p->act_max,
                              p->out_bits};
    mixq_sparse_open(p->weight, &s);
    if (taps > 64) {
        return; /* the code generator only selects this kernel for k_h * k_w <= 64 */
    }
    mixq_dws_expand(p, &s, w16, row);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = iy0 + p->k_h > p->in_h ? p->in_h - iy0 : p->k_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t kx1 = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            const uint8_t *x0 = input + (iy0 * p->in_w + ix0) * c_n;
            const int32_t inside = p->k_h == 3 && p->k_w == 3 && ky0 == 0 && kx0 == 0 &&
                                   ky1 == 3 && kx1 == 3;
            for (int32_t g = 0; g < full; ++g) {
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                if (inside) { /* 3x3 inside the input: nine taps, unrolled */
                    const uint8_t *x = x0 + 4 * g;
                    const int16_t *w = w16 + g * 36;
                    for (int32_t ky = 0; ky < 3; ++ky, x += p->in_w * c_n, w += 12) {
                        MIXQ_DWS_TAP(x, w, 0);
                        MIXQ_DWS_TAP(x + c_n, w, 4);
                        MIXQ_DWS_TAP(x + 2 * c_n, w, 8);
                    }
                    mixq_dws_store(&rq, out_pixel, 4 * g, s0);
                    mixq_dws_store(&rq, out_pixel, 4 * g + 1, s1);
                    mixq_dws_store(&rq, out_pixel, 4 * g + 2, s2);
                    mixq_dws_store(&rq, out_pixel, 4 * g + 3, s3);
                    continue;
                }
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const uint8_t *x = x0 + ky * p->in_w * c_n + 4 * g;
                    const int16_t *w = w16 + (g * taps + ky * p->k_w) * 4;
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        MIXQ_DWS_TAP(x + kx * c_n, w, 4 * kx);
                    }
                }
                mixq_dws_store(&rq, out_pixel, 4 * g, s0);
                mixq_dws_store(&rq, out_pixel, 4 * g + 1, s1);
                mixq_dws_store(&rq, out_pixel, 4 * g + 2, s2);
                mixq_dws_store(&rq, out_pixel, 4 * g + 3, s3);
            }
            for (int32_t c = 4 * full; c < c_n; ++c) { /* the last channels of a short group */
                static const int32_t lane_of_channel[4] = {0, 2, 1, 3};
                const int16_t *w = w16 + (full * taps) * 4 + lane_of_channel[c % 4];
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        acc += (int32_t)x0[(ky * p->in_w + kx) * c_n + c] *
                               w[(ky * p->k_w + kx) * 4];
                    }
                }
                mixq_dws_store(&rq, out_pixel, c, acc);
            }
        }
    }
}
