/*
 * mixq portable C99 reference kernels (any compiler, any precision combination).
 *
 * Conventions (all kernels):
 *  - Tensors are packed NHWC (see mixq_types.h): codes of 8, 4 or 2 bits packed along channels,
 *    lowest channel in the lowest bits, each pixel padded to whole bytes.
 *  - The caller owns all memory: `input`/`output` point into the caller's buffers (the arena), and
 *    `scratch` points to at least <kernel>_scratch_bytes(p) bytes (kernels without a companion
 *    need none and accept NULL). Input and output must not overlap unless the kernel says so.
 *  - Accumulators are int32; requantization is mixq_requantize_s32 (the rule of
 *    mixq.quant.integer.requantize, bit for bit).
 *  - "_any" kernels read the code widths and signedness from their parameter struct.
 */
#ifndef MIXQ_KERNELS_H
#define MIXQ_KERNELS_H

#include "mixq_types.h"

/* Per-channel ICN requantization of one int32 accumulator:
 *   y = clamp(floor((acc * multiplier + bias) / 2^shift), act_min, act_max)
 * computed in int64 (one SMLAL on Cortex-M). acc: int32; multiplier: int32; bias: int64 in
 * product units with the rounding half 2^(shift-1) included; shift: [1, 62].
 * Returns y in [act_min, act_max]. */
int32_t mixq_requantize_s32(int32_t acc, int64_t bias, int32_t multiplier, int32_t shift,
                            int32_t act_min, int32_t act_max);

/* Window dot product shared by the reference conv and depthwise kernels: the sum over the
 * k_h x k_w window whose top-left input pixel is (iy0, ix0) (zero padding outside the input)
 * of input codes times weight codes. Tap t = ky * k_w + kx reads its weight row at
 * w + t * mixq_row_bytes(in_c, w_bits) (signed w_bits codes). channel < 0: all in_c channels
 * (regular convolution); channel >= 0: that channel only (depthwise). */
static inline int32_t mixq_window_dot(const mixq_conv_params_t *p, const uint8_t *input,
                                      const uint8_t *w, int32_t w_bits, int32_t iy0, int32_t ix0,
                                      int32_t channel)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, w_bits);
    const int32_t c0 = channel < 0 ? 0 : channel, c1 = channel < 0 ? p->in_c : channel + 1;
    int32_t acc = 0;
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h) {
            continue; /* zero padding: code 0 adds nothing */
        }
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            if (ix < 0 || ix >= p->in_w) {
                continue;
            }
            const uint8_t *x = input + (iy * p->in_w + ix) * in_pixel_bytes;
            const uint8_t *wt = w + (ky * p->k_w + kx) * w_row_bytes;
            for (int32_t c = c0; c < c1; ++c) {
                acc += mixq_load_code(x, c, p->in_bits, p->in_signed) *
                       mixq_load_code(wt, c, w_bits, 1);
            }
        }
    }
    return acc;
}

/* Dot product over `pixels` consecutive input pixels starting at x (all in_c channels, codes of
 * in_bits) and their weight rows at w + i * mixq_row_bytes(in_c, w_bits) (signed w_bits codes):
 * the pointwise (pixels = 1) and fully connected reference kernels. */
static inline int32_t mixq_pixels_dot(const mixq_conv_params_t *p, const uint8_t *x,
                                      const uint8_t *w, int32_t w_bits, int32_t pixels)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->in_c, p->in_bits);
    const int32_t w_row_bytes = mixq_row_bytes(p->in_c, w_bits);
    int32_t acc = 0;
    for (int32_t px = 0; px < pixels; ++px, x += in_pixel_bytes, w += w_row_bytes) {
        for (int32_t ic = 0; ic < p->in_c; ++ic) {
            acc += mixq_load_code(x, ic, p->in_bits, p->in_signed) *
                   mixq_load_code(w, ic, w_bits, 1);
        }
    }
    return acc;
}

/* Requantize acc with channel c's ICN constants and store it as code c of `out_pixel`. */
static inline void mixq_store_requantized(const mixq_conv_params_t *p, uint8_t *out_pixel,
                                          int32_t c, int32_t acc)
{
    mixq_store_code(out_pixel, c, p->out_bits,
                    mixq_requantize_s32(acc, p->bias[c], p->multiplier[c], p->shift[c],
                                        p->act_min, p->act_max));
}

/* The reference convolution walk, regular (depthwise = 0: filter oc is (k_h, k_w) rows of in_c
 * codes) or depthwise (depthwise = 1: one (k_h, k_w) set of rows, channel c reads code c). */
static inline void mixq_conv_walk_any(const mixq_conv_params_t *p, const uint8_t *input,
                                      uint8_t *output, int32_t depthwise)
{
    const int32_t out_pixel_bytes =
        mixq_out_pixel_bytes(p->out_pixel_stride, p->out_c, p->out_bits);
    const int32_t filter_bytes =
        depthwise ? 0 : p->k_h * p->k_w * mixq_row_bytes(p->in_c, p->w_bits);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *out_pixel = output + (oy * p->out_w + ox) * out_pixel_bytes;
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t acc = mixq_window_dot(p, input, p->weight + oc * filter_bytes,
                                                    p->w_bits, iy0, ix0, depthwise ? oc : -1);
                mixq_store_requantized(p, out_pixel, oc, acc);
            }
        }
    }
}

/* Regular convolution, any KxK, stride, asymmetric zero padding, any in_c (incl. 3).
 *  p->weight: (out_c, k_h, k_w) rows of in_c codes, each row packed with p->w_bits and padded to
 *             whole bytes (row = mixq_row_bytes(in_c, w_bits) bytes), signed.
 *  input:  (in_h, in_w, in_c) packed with in_bits/in_signed.
 *  output: (out_h, out_w, out_c) packed with out_bits/out_signed. No scratch. */
MIXQ_CONV_KERNEL(mixq_conv2d_any);

/* Pointwise 1x1 convolution, stride 1, no padding (out_h == in_h, out_w == in_w).
 *  p->weight: out_c rows of in_c codes (as mixq_conv2d_any with k_h = k_w = 1). No scratch. */
MIXQ_CONV_KERNEL(mixq_conv2d_1x1_any);

/* Depthwise convolution (out_c == in_c, one filter per channel), any KxK, stride, padding.
 *  p->weight: (k_h, k_w) rows of in_c codes, each row packed with w_bits, padded to bytes.
 *  No scratch. */
MIXQ_CONV_KERNEL(mixq_dwconv_any);

/* Depthwise convolution that may run in place (output == input), same arguments and weight
 * layout as mixq_dwconv_any. Input rows are copied to a ring of min(k_h, in_h) rows in `scratch`
 * before output rows overwrite them. In place is safe when, for every output row oy, the first
 * input row newly copied at oy starts at or after byte oy * (out row bytes) (checked by the code
 * generator: mixq.codegen.kernels_ref.dwconv_inplace_safe); distinct buffers are always safe. */
int32_t mixq_dwconv_inplace_any_scratch_bytes(const mixq_conv_params_t *p);
MIXQ_CONV_KERNEL(mixq_dwconv_inplace_any);

/* Fully connected over the HWC-flattened input (in_h * in_w pixels of in_c codes).
 *  p->weight: (out_c, in_h * in_w) rows of in_c codes, each row packed with w_bits and padded to
 *             whole bytes. output: one pixel of out_c codes. No scratch. */
MIXQ_CONV_KERNEL(mixq_fully_connected_any);

/* Global average pooling (in_h, in_w, c) -> (1, 1, c):
 * y = floor((sum + n / 2) / n), n = in_h * in_w (round half up, also for negative sums).
 * No scratch. */
void mixq_avgpool_any(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch);

/* The global average of channels [c_lo, c_hi) (mixq_avgpool_any's loop; the PULP kernel splits
 * the channels over the cluster cores with it). */
static inline void mixq_avgpool_channels(const mixq_pool_params_t *p, const uint8_t *input,
                                         uint8_t *output, int32_t c_lo, int32_t c_hi)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->c, p->in_bits);
    const int32_t count = p->in_h * p->in_w;
    /* |sum + count / 2| < 256 * count: int32 (a 32-bit division, not a 64-bit library call)
     * up to 2^23 pixels */
    const int32_t narrow = count < ((int32_t)1 << 23);
    for (int32_t c = c_lo; c < c_hi; ++c) {
        int64_t total = 0;
        for (int32_t px = 0; px < count; ++px) {
            total += mixq_load_code(input + px * in_pixel_bytes, c, p->in_bits, p->in_signed);
        }
        total += count / 2;
        mixq_store_code(output, c, p->out_bits, narrow ?
                        mixq_floor_div32((int32_t)total, count) :
                        (int32_t)mixq_floor_div(total, count));
    }
}

/* The pooling window walk shared by the reference max and average pool kernels: over the
 * k_h x k_w window of output pixel (oy, ox), channel c, the largest code (maximum = 1) or the
 * sum of the codes (maximum = 0) of the taps inside the input (padding is skipped); *taps gets
 * the number of those taps (>= 1: padding stays below the window size). */
static inline int32_t mixq_pool_window(const mixq_pool2d_params_t *p, const uint8_t *input,
                                       int32_t oy, int32_t ox, int32_t c, int32_t maximum,
                                       int32_t *taps)
{
    const int32_t in_pixel_bytes = mixq_row_bytes(p->c, p->in_bits);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t result = 0, count = 0;
    for (int32_t iy = iy0 < 0 ? 0 : iy0; iy < iy0 + p->k_h && iy < p->in_h; ++iy) {
        for (int32_t ix = ix0 < 0 ? 0 : ix0; ix < ix0 + p->k_w && ix < p->in_w; ++ix) {
            const int32_t v = mixq_load_code(input + (iy * p->in_w + ix) * in_pixel_bytes, c,
                                             p->in_bits, p->in_signed);
            result = maximum ? (count == 0 || v > result ? v : result) : result + v;
            ++count;
        }
    }
    *taps = count;
    return result;
}

/* The reference pooling walk: every output pixel and channel gets its window's max
 * (maximum = 1) or average (maximum = 0: floor((sum + n / 2) / n), n = k_h * k_w when
 * count_include_pad else the taps inside the input). */
static inline void mixq_pool2d_walk(const mixq_pool2d_params_t *p, const uint8_t *input,
                                    uint8_t *output, int32_t maximum)
{
    const int32_t out_pixel_bytes = mixq_out_pixel_bytes(p->out_pixel_stride, p->c, p->out_bits);
    int32_t taps;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            uint8_t *y = output + (oy * p->out_w + ox) * out_pixel_bytes;
            for (int32_t c = 0; c < p->c; ++c) {
                int32_t v = mixq_pool_window(p, input, oy, ox, c, maximum, &taps);
                if (!maximum) {
                    const int32_t n = p->count_include_pad ? p->k_h * p->k_w : taps;
                    v = (int32_t)mixq_floor_div(v + n / 2, n);
                }
                mixq_store_code(y, c, p->out_bits, v);
            }
        }
    }
}

/* Windowed max pooling, any k_h x k_w, stride, padding (padding never wins). No scratch. */
void mixq_maxpool_any(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch);

/* Windowed average pooling, any k_h x k_w, stride, padding:
 * y = floor((sum + n / 2) / n) (round half up, mixq.quant.integer.avgpool_divide), sum over the
 * taps inside the input, n = k_h * k_w when count_include_pad else the number of those taps.
 * No scratch. */
void mixq_avgpool2d_any(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch);

/* Concatenation along channels: output pixel px holds input 0's channels (rescaled, see
 * mixq_concat_input_t), then input 1's, ...; inputs[i] points to input i. The output must not
 * overlap any input. No scratch. */
void mixq_concat_any(const mixq_concat_params_t *p, const uint8_t *const *inputs,
                     uint8_t *output, uint8_t *scratch);

/* Residual add: y = clamp(floor((a * multiplier_a + b * multiplier_b + 2^(shift-1)) / 2^shift),
 * act_min, act_max) in int64, element by element. May run in place (output == input_a or
 * input_b) when that input's code width is >= out_bits and both have p->c channels per pixel.
 * No scratch. */
void mixq_add_any(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                  uint8_t *output, uint8_t *scratch);

/* Pack one code per byte (uint8 codes, or int8 two's complement when p->is_signed) into a packed
 * tensor of p->bits. */
void mixq_pack_any(const mixq_pack_params_t *p, const uint8_t *input, uint8_t *output);

/* Unpack a packed tensor of p->bits into one code per byte (int8 two's complement when signed,
 * else the unsigned code), p->pixels * p->c bytes. */
void mixq_unpack_any(const mixq_pack_params_t *p, const uint8_t *input, uint8_t *output);

/* Layer boundary marker: called with i before layer i and with the layer count after the last
 * layer. Never inlined and never removed, so an emulator can hook its address. */
void mixq_layer_mark(int32_t layer);

#endif /* MIXQ_KERNELS_H */
