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

/* Regular convolution, any KxK, stride, asymmetric zero padding, any in_c (incl. 3).
 *  p->weight: (out_c, k_h, k_w) rows of in_c codes, each row packed with p->w_bits and padded to
 *             whole bytes (row = mixq_row_bytes(in_c, w_bits) bytes), signed.
 *  input:  (in_h, in_w, in_c) packed with in_bits/in_signed.
 *  output: (out_h, out_w, out_c) packed with out_bits/out_signed. No scratch. */
void mixq_conv2d_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                     uint8_t *scratch);

/* Pointwise 1x1 convolution, stride 1, no padding (out_h == in_h, out_w == in_w).
 *  p->weight: out_c rows of in_c codes (as mixq_conv2d_any with k_h = k_w = 1). No scratch. */
void mixq_conv2d_1x1_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch);

/* Depthwise convolution (out_c == in_c, one filter per channel), any KxK, stride, padding.
 *  p->weight: (k_h, k_w) rows of in_c codes, each row packed with w_bits, padded to bytes.
 *  No scratch. */
void mixq_dwconv_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                     uint8_t *scratch);

/* Depthwise convolution that may run in place (output == input), same arguments and weight
 * layout as mixq_dwconv_any. Input rows are copied to a ring of min(k_h, in_h) rows in `scratch`
 * before output rows overwrite them. In place is safe when, for every output row oy, the first
 * input row newly copied at oy starts at or after byte oy * (out row bytes) (checked by the code
 * generator: mixq.codegen.kernels_ref.dwconv_inplace_safe); distinct buffers are always safe. */
int32_t mixq_dwconv_inplace_any_scratch_bytes(const mixq_conv_params_t *p);
void mixq_dwconv_inplace_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                             uint8_t *scratch);

/* Fully connected over the HWC-flattened input (in_h * in_w pixels of in_c codes).
 *  p->weight: (out_c, in_h * in_w) rows of in_c codes, each row packed with w_bits and padded to
 *             whole bytes. output: one pixel of out_c codes. No scratch. */
void mixq_fully_connected_any(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                              uint8_t *scratch);

/* Global average pooling (in_h, in_w, c) -> (1, 1, c):
 * y = floor((sum + n / 2) / n), n = in_h * in_w (round half up, also for negative sums).
 * No scratch. */
void mixq_avgpool_any(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                      uint8_t *scratch);

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
