// The backward of a depthwise 3x3 conv + BatchNorm + ReLU6 unit after BN's channel sums, image by
// image: each image's dL/dz (the BN input's gradient) is formed in a scratch image that stays in
// cache while both of its consumers read it, the input gradient and the weight gradient. As
// separate passes over the batch, dL/dz went out to memory and came back twice (see
// pointwise_backward.ts for the pointwise units).

import { bnBackwardDx, bnBackwardDxRelu6 } from './bn';
import { addDepthwiseWgrad, depthwise3x3Dgrad } from './depthwise';

/**
 * For N images of OH x OW x C (NHWC): dz = ca*g + cb*(z - mean) + cc with g = gy, masked by ReLU6
 * when `relu6` (see bnBackwardDxRelu6); then gx = depthwise3x3Dgrad of dz with the forward's
 * packed weights `w` (skipped when w is 0) and dw = depthwise3x3Wgrad of (x, dz) (skipped when dw
 * is 0; rowAcc is its scratch). `gz` is scratch for one image of dz (OH * OW * C floats). The
 * results are those of the separate kernels, bit for bit: dw adds the images' rows in the same
 * order.
 */
export function depthwiseBackward(
  N: i32, H: i32, W: i32, C: i32,
  gy: usize, z: usize, mean: usize, scale: usize, shift: usize, ca: usize, cb: usize, cc: usize, relu6: bool,
  w: usize, gx: usize, x: usize, dw: usize, rowAcc: usize, gz: usize,
  stride: i32, OH: i32, OW: i32,
): void {
  if (dw) memory.fill(dw, 0, <usize>9 * (<usize>((C + 3) & ~3) << 2));
  const pixels = OH * OW;
  const outImg = <usize>pixels * (<usize>C << 2);
  const inImg = <usize>H * <usize>W * (<usize>C << 2);
  for (let n = 0; n < N; n++) {
    const o = <usize>n * outImg;
    if (relu6) bnBackwardDxRelu6(pixels, C, gy + o, z + o, mean, scale, shift, ca, cb, cc, gz);
    else bnBackwardDx(pixels, C, gy + o, z + o, mean, ca, cb, cc, gz);
    if (w) depthwise3x3Dgrad(1, H, W, C, gz, w, gx + <usize>n * inImg, stride, OH, OW);
    if (dw) addDepthwiseWgrad(1, H, W, C, x + <usize>n * inImg, gz, dw, rowAcc, stride, OH, OW);
  }
}
