import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../src/data/decode.js';
import { centerCrop, resizeShorter, toNormalizedTensor } from '../../src/data/transforms.js';
import { readPth } from '../../src/io/pth.js';
import { compileMobileNetV2 } from '../../src/backend/wasm/mobilenetv2.js';
import { softmax } from '../../src/ops/softmax.js';
import { trainKernels } from '../backend/wasm/train/helpers.js';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { parity } from '../helpers/compare.js';

const PHOTOS = ['parrot.jpg', 'hot_dog.jpg', 'cat_720p.jpg', 'grace_hopper.bmp', 'bird.bmp', 'cat.bmp', 'dragonfly.bmp', 'owl.jpg'];
const argmax = (p: Float32Array) => p.reduce((best, v, i) => (v > p[best] ? i : best), 0);

describe('full pipeline, file -> probabilities, against PyTorch (PIL decode, Resize(256), CenterCrop(224), Normalize(0.5))', () => {
  const ref = loadFixture('parity_imagenet.safetensors').tensors;
  const path = fixturePath('mobilenet_v2_imagenet.pth');
  const { stateDict } = readPth(new Uint8Array(readFileSync(path)), { name: path });
  const model = compileMobileNetV2(trainKernels(), stateDict, { numClasses: 1000, alpha: 1 });

  it('gives the same top-1 as PyTorch on all 8 photos, within 0.02 of its probability', async () => {
    const rows: string[] = [];
    for (const f of PHOTOS) {
      const img = await decodeImageFile(fixturePath('images', 'imagenet-samples', f));
      const x = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
      const ours = softmax(model.forward(x.reshape([1, 3, 224, 224]))).data;
      const theirs = ref.get(`${f}.probs`)!.data;
      const top = argmax(theirs);
      rows.push(`${f}: top-1 ${top} ours ${ours[top].toFixed(4)} torch ${theirs[top].toFixed(4)} |dp| ${Math.abs(ours[top] - theirs[top]).toFixed(4)}`);
      expect(argmax(ours), `${f}: top-1`).toBe(top);
      expect(Math.abs(ours[top] - theirs[top]), `${f}: p of the top-1`).toBeLessThanOrEqual(0.02);
      // Decoding (libjpeg-turbo-exact JPEG, BMP) and preprocessing are bit-exact, so
      // the whole probability vector holds the engine's own parity tolerance.
      const p = parity(ours, theirs);
      expect(p.maxAbsErr, `${f}: probabilities`).toBeLessThanOrEqual(p.bound);
    }
    console.log(`[pipeline]\n${rows.join('\n')}`);
  });
});
