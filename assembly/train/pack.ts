// Per-step packing of pointwise weights for the training GEMMs, in wasm: the executor copies a
// conv's PyTorch-layout weight [N(out)][K(in)] into memory once per forward, and both the
// forward GEMM's panels and the dgrad GEMM's (of W^T) are packed from that copy.

/** Forward panels (as src/backend/wasm/pack.ts packGemmWeights): panel p is K rows of w[8p..8p+7][k], zero past N. */
export function packGemmPanels(w: usize, N: i32, K: i32, dst: usize): void {
  const ldw = <usize>K << 2;
  for (let n0 = 0; n0 < N; n0 += 8) {
    const cols = min<i32>(8, N - n0);
    const panel = dst + <usize>n0 * ldw; // panels are K * 8 floats: n0 / 8 * K * 32 bytes
    const src = w + <usize>n0 * ldw;
    if (cols == 8) {
      const r0 = src, r1 = src + ldw, r2 = src + 2 * ldw, r3 = src + 3 * ldw;
      const r4 = src + 4 * ldw, r5 = src + 5 * ldw, r6 = src + 6 * ldw, r7 = src + 7 * ldw;
      let k = 0;
      // 4 k-columns of the 8 rows at a time: two 4x4 transposes.
      for (; k + 4 <= K; k += 4) {
        const kb = <usize>k << 2;
        const o = panel + (<usize>k << 5);
        transpose4(o, v128.load(r0 + kb), v128.load(r1 + kb), v128.load(r2 + kb), v128.load(r3 + kb));
        transpose4(o + 16, v128.load(r4 + kb), v128.load(r5 + kb), v128.load(r6 + kb), v128.load(r7 + kb));
      }
      for (; k < K; k++) {
        const kb = <usize>k << 2;
        const o = panel + (<usize>k << 5);
        for (let j = 0; j < 8; j++) store<f32>(o + (<usize>j << 2), load<f32>(src + <usize>j * ldw + kb));
      }
    } else {
      for (let k = 0; k < K; k++) {
        const o = panel + (<usize>k << 5);
        for (let j = 0; j < 8; j++) store<f32>(o + (<usize>j << 2), j < cols ? load<f32>(src + <usize>j * ldw + (<usize>k << 2)) : 0);
      }
    }
  }
}

// Rows a, b, c, d (4 floats each) -> columns, stored 32 bytes apart (one panel row each).
@inline
function transpose4(o: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const cd0 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const cd1 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(o, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5));
  v128.store(o, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7), 32);
  v128.store(o, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5), 64);
  v128.store(o, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7), 96);
}

/**
 * Dgrad panels of W^T (as src/backend/wasm/train/pack.ts packGemmWeightsTransposed): panel q is
 * N rows of w[n][8q..8q+7], zero past K.
 */
export function packGemmPanelsT(w: usize, N: i32, K: i32, dst: usize): void {
  const ldw = <usize>K << 2;
  const panelBytes = <usize>N << 5;
  for (let k0 = 0; k0 < K; k0 += 8) {
    const cols = min<i32>(8, K - k0);
    let o = dst + <usize>(k0 >> 3) * panelBytes;
    let src = w + (<usize>k0 << 2);
    if (cols == 8) {
      for (let n = 0; n < N; n++) {
        v128.store(o, v128.load(src));
        v128.store(o, v128.load(src, 16), 16);
        o += 32;
        src += ldw;
      }
    } else {
      for (let n = 0; n < N; n++) {
        for (let j = 0; j < 8; j++) store<f32>(o + (<usize>j << 2), j < cols ? load<f32>(src + (<usize>j << 2)) : 0);
        o += 32;
        src += ldw;
      }
    }
  }
}

/** NCHW [N][C][HW] -> NHWC [N][HW][C] (the executor's input, copied into memory as it comes). */
export function nchwToNhwc(N: i32, C: i32, HW: i32, src: usize, dst: usize): void {
  const plane = <usize>HW << 2;
  const ps = <usize>C << 2;
  for (let n = 0; n < N; n++) {
    const s = src + <usize>n * <usize>C * plane;
    const d = dst + <usize>n * <usize>C * plane;
    for (let c = 0; c < C; c++) {
      let sp = s + <usize>c * plane;
      let dp = d + (<usize>c << 2);
      for (let i = 0; i < HW; i++) {
        store<f32>(dp, load<f32>(sp));
        sp += 4;
        dp += ps;
      }
    }
  }
}
