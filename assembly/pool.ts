// Global average pooling, NHWC [N, HW, C] -> [N, C].

export function globalAvgPool(N: i32, HW: i32, C: i32, inp: usize, out: usize): void {
  const ps = <usize>C << 2;
  const cVec = <usize>(C & ~3) << 2;
  const cAll = <usize>C << 2;
  const inv = f32x4.splat(<f32>HW);
  for (let n = 0; n < N; n++) {
    const img = inp + <usize>n * <usize>HW * ps;
    const o = out + <usize>n * ps;
    for (let cb: usize = 0; cb < cVec; cb += 16) {
      let acc = f32x4.splat(0);
      let p = img + cb;
      for (let i = 0; i < HW; i++) {
        acc = f32x4.add(acc, v128.load(p));
        p += ps;
      }
      v128.store(o + cb, f32x4.div(acc, inv));
    }
    for (let cb = cVec; cb < cAll; cb += 4) {
      let acc: f32 = 0;
      let p = img + cb;
      for (let i = 0; i < HW; i++) {
        acc += load<f32>(p);
        p += ps;
      }
      store<f32>(o + cb, acc / <f32>HW);
    }
  }
}
