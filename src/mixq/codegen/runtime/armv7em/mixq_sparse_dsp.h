/* mixq ARMv7E-M DSP kernel of dense-ternary + sparse-int8 layers (conv, pw, fc; u8 input).
 *
 * acc[c] = dense_scale[c] * sum(x * T[c]) + sum(x * S[c]), then the ICN rule (mixq_dsp.h).
 *
 * Activations: the receptive field of an output pixel is widened into an im2col column of int16
 * lanes (scratch): each tap's in_c codes in groups of four lanes, lane order (c0, c2, c1, c3)
 * (UXTB16 and UXTB16 ROR #8 of one input word), a tap padded to whole groups, the column to
 * k_lanes = a multiple of 16 lanes. With `cols` = 4 (layers with >= 4 output pixels) four
 * columns are interleaved group by group: group G of column c is the two words at
 * G * 8 + 2 * c; with cols = 1 group G is at 2 * G.
 *
 * p->weight is one blob (4-byte aligned, little-endian, mixq.codegen.kernels_sparse.pack_dsp_blob):
 *   header  16 uint32: [0] sparse kind (0 list, 1 blocks), [1] cols, [2] k_lanes, [3]
 *           dense_scale bytes (1 or 4), [4..7] byte offsets of the dense words, dense_scale,
 *           counts and entries;
 *   dense   per output channel k_lanes / 16 words of 16 offset-binary codes u = T + 1 in
 *           {0, 1, 2}: the word's 2-bit field k (k < 8) holds lane 2k of its 16 lanes, field
 *           k + 8 lane 2k + 1, so (word >> 2k) & 0x00030003 is the lane pair (2k, 2k + 1);
 *           sum(x * T) = sum(x * u) - sum(x);
 *   scale   dense_scale[out_c], uint8 (every k_c <= 255) or int32;
 *   counts  uint16 per output channel: its entries (list) or blocks;
 *   entries list: one uint32 per outlier, (byte offset of its lane in column 0) << 16 |
 *           (uint16) int16 value; blocks: two uint32 per 1x4 block, the byte offset of its lane
 *           group in column 0 and its four int8 values (channel order), which SXTB16 and
 *           SXTB16 ROR #8 turn into the lane pairs of the group's two words.
 * Unstructured, row and N:M outliers use the list; 1x4 blocks (whole lane groups) the blocks.
 */
#ifndef MIXQ_SPARSE_DSP_H
#define MIXQ_SPARSE_DSP_H

#include "mixq_dsp.h"

/* Scratch bytes: cols * k_lanes * 2 (4-byte aligned buffer). */
int32_t mixq_conv2d_sparse_dsp_scratch_bytes(const mixq_conv_params_t *p);

/* Convolution (any kernel, stride, padding), pointwise and fully connected (a convolution whose
 * kernel covers the input) with u8 input codes, any output codes. */
MIXQ_CONV_KERNEL(mixq_conv2d_sparse_dsp);

#endif /* MIXQ_SPARSE_DSP_H */
