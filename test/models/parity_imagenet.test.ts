import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { noGrad } from '../../src/nn/grad_mode.js';
import { readPth } from '../../src/io/pth.js';
import { softmax } from '../../src/ops/softmax.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { expectParity, worst } from '../helpers/compare.js';

const ref = loadFixture('parity_imagenet.safetensors').tensors;
const PHOTOS = ['parrot.jpg', 'hot_dog.jpg', 'cat_720p.jpg', 'grace_hopper.bmp', 'bird.bmp', 'cat.bmp', 'dragonfly.bmp', 'owl.jpg'];

function topK(p: Float32Array, k: number): number[] {
  return Array.from(p.keys())
    .sort((a, b) => p[b] - p[a])
    .slice(0, k);
}

describe('parity with PyTorch: ImageNet MobileNetV2 1.0 from mobilenet_v2_imagenet.pth, reference engine', () => {
  const path = fixturePath('mobilenet_v2_imagenet.pth');
  const { stateDict } = readPth(new Uint8Array(readFileSync(path)), { name: path });
  const model = new MobileNetV2({ numClasses: 1000 });
  model.loadStateDict(stateDict);
  model.eval();

  it('parrot: every features.i, pooled and logits', () => {
    noGrad(() => {
      let x: Tensor = ref.get('parrot.jpg.input')!;
      for (let i = 0; i < model.features.length; i++) {
        x = model.features.at(i).forward(x);
        expectParity(x, ref.get(`parrot.features.${i}`)!, `parrot.features.${i}`);
      }
      const pooled = model.pool(x);
      expectParity(pooled, ref.get('parrot.pooled')!, 'parrot.pooled');
      expectParity(model.classifier.forward(pooled), ref.get('parrot.logits')!, 'parrot.logits');
    });
  });

  it('all 8 photos: probabilities and the same top-5 in the same order', () => {
    const batch = PHOTOS.map((f) => ref.get(`${f}.input`)!);
    for (const [i, f] of PHOTOS.entries()) {
      const probs = noGrad(() => softmax(model.forward(batch[i])));
      const theirs = ref.get(`${f}.probs`)!;
      expectParity(probs, theirs.reshape(probs.shape), `${f}.probs`);
      expect(topK(probs.data, 5), `${f} top-5`).toEqual(topK(theirs.data, 5));
    }
  });

  afterAll(() => console.log(`[parity_imagenet] worst error/bound: ${worst.ratio.toFixed(4)} (${worst.label})`));
});
