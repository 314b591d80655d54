// The whole backward of a pointwise (1x1) conv + BatchNorm (+ ReLU6) unit in one pass over row
// blocks, after BN's channel sums: each block's dL/dz (the BN input's gradient) is formed in a
// scratch block that stays in cache, and both of its consumers run on it there, the input
// gradient (a GEMM with W^T) and the weight gradient (a block of pointwiseWgrad's sums). Done
// as three separate passes, dL/dz went out to memory and came back twice (the single-thread
// MobileNetV2 step, with depthwiseBackward: ~30 ms of ~840 faster).

import { gemm } from '../gemm';
import { bnBackwardDx, bnBackwardDxRelu6 } from './bn';
import { pointwiseWgradBlockRows, pointwiseWgradRows } from './pointwise';

/**
 * For M rows of Cout channels (NHWC): dz = ca*g + cb*(z - mean) + cc with g = gy, masked by the
 * ReLU6 pass-through region when `relu6` (see bnBackwardDxRelu6); then
 * - when wT != 0: gx[M x Cin] = dz . W^T (+ res), with W^T packed as gemm's panels (packGemmPanelsT);
 * - when dw != 0: dw[Cout][Cin] = sum over rows of dz^T x, x being the conv input [M x Cin].
 * `gz` is scratch for one block of dz: 128 * Cout floats (pointwiseWgrad's longest block). The
 * results are those of bnBackwardDx(Relu6) + gemm + pointwiseWgrad bit for bit: the blocks are
 * pointwiseWgrad's own, added to dw in the same order.
 */
export function pointwiseBackward(
  M: i32, Cout: i32, Cin: i32,
  gy: usize, z: usize, mean: usize, scale: usize, shift: usize, ca: usize, cb: usize, cc: usize, relu6: bool,
  wT: usize, zeroBias: usize, gx: usize, res: usize,
  x: usize, dw: usize, gz: usize,
): void {
  if (dw) memory.fill(dw, 0, (<usize>Cout * <usize>Cin) << 2);
  if (M <= 0 || Cout <= 0 || Cin <= 0) return;
  const ldz = <usize>Cout << 2;
  const ldx = <usize>Cin << 2;
  // pointwiseWgrad's own block length for this shape, so that each block is one of its blocks.
  const MB = pointwiseWgradBlockRows(M, Cin, Cout);
  for (let m0 = 0; m0 < M; m0 += MB) {
    const rows = min<i32>(MB, M - m0);
    const zo = <usize>m0 * ldz;
    const xo = <usize>m0 * ldx;
    if (relu6) bnBackwardDxRelu6(rows, Cout, gy + zo, z + zo, mean, scale, shift, ca, cb, cc, gz);
    else bnBackwardDx(rows, Cout, gy + zo, z + zo, mean, ca, cb, cc, gz);
    if (wT) gemm(rows, Cout, Cin, gz, wT, zeroBias, gx + xo, -Infinity, Infinity, res ? res + xo : 0);
    if (dw) pointwiseWgradRows(rows, Cin, Cout, x + xo, gz, dw);
  }
}
