import type { Tensor } from '../tensor/tensor.js';
import { defaultRng, type Rng } from '../tensor/rng.js';
import { add } from '../ops/elementwise.js';
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers/conv2d.js';
import { BatchNorm2d } from '../nn/layers/batch_norm.js';
import { ReLU6 } from '../nn/layers/activation.js';
import { Dropout } from '../nn/layers/dropout.js';
import { Linear } from '../nn/layers/linear.js';
import { AdaptiveAvgPool2d, Flatten } from '../nn/layers/pooling.js';
import { Sequential } from '../nn/layers/sequential.js';
import { constant_, kaimingNormal_, normal_ } from '../nn/init.js';
import { INVERTED_RESIDUAL_SETTING, makeDivisible } from './layout.js';

export { INVERTED_RESIDUAL_SETTING, makeDivisible };

/**
 * MobileNetV2 (Sandler et al. 2018) exactly as the seed tutorial's PyTorch code,
 * which has torchvision's module tree and state_dict keys. One difference from
 * torchvision: the seed scales the last channel count by alpha even below 1.
 */

/** Conv2d (no bias) + BatchNorm2d + ReLU6, with "same" padding for odd kernels. */
export class ConvBNReLU extends Sequential {
  constructor(inChannel: number, outChannel: number, kernelSize = 3, stride = 1, groups = 1, rng?: Rng) {
    const padding = (kernelSize - 1) >> 1;
    super(
      new Conv2d(inChannel, outChannel, kernelSize, { stride, padding, groups, bias: false, rng }),
      new BatchNorm2d(outChannel),
      // In place, as the seed's nn.ReLU6(inplace=True): BN's output has no other reader.
      new ReLU6({ inplace: true }),
    );
  }
}

/**
 * Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> linear 1x1 projection, with an
 * identity shortcut only when the block keeps both resolution and width.
 */
export class InvertedResidual extends Module {
  readonly useShortcut: boolean;
  readonly conv: Sequential;

  constructor(inChannel: number, outChannel: number, stride: number, expandRatio: number, rng?: Rng) {
    super();
    const hidden = inChannel * expandRatio;
    this.useShortcut = stride === 1 && inChannel === outChannel;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(new ConvBNReLU(inChannel, hidden, 1, 1, 1, rng));
    layers.push(
      new ConvBNReLU(hidden, hidden, 3, stride, hidden, rng),
      new Conv2d(hidden, outChannel, 1, { bias: false, rng }),
      new BatchNorm2d(outChannel),
    );
    this.conv = this.registerModule('conv', new Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.useShortcut ? add(x, y) : y;
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const gBranch = this.conv.backward(gradOut, needInputGrad);
    if (!this.useShortcut || !needInputGrad) return gBranch;
    // d(x + conv(x))/dx: the shortcut passes the gradient through unchanged.
    return gBranch ? add(gBranch, gradOut) : gradOut;
  }
}

export interface MobileNetV2Config {
  numClasses?: number;
  alpha?: number;
  roundNearest?: number;
  dropout?: number;
  /** Generator for the weight init and dropout; defaults to the global one. */
  rng?: Rng;
}

export class MobileNetV2 extends Module {
  readonly numClasses: number;
  readonly alpha: number;
  readonly roundNearest: number;
  readonly lastChannel: number;
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  private readonly flatten = new Flatten();

  constructor(cfg: MobileNetV2Config = {}) {
    super();
    const numClasses = (this.numClasses = cfg.numClasses ?? 1000);
    const alpha = (this.alpha = cfg.alpha ?? 1.0);
    const roundNearest = (this.roundNearest = cfg.roundNearest ?? 8);
    if (!(alpha > 0)) throw new Error(`MobileNetV2: alpha must be positive, got ${alpha}`);
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`MobileNetV2: numClasses must be a positive integer, got ${numClasses}`);
    const rng = cfg.rng ?? defaultRng();

    let inputChannel = makeDivisible(32 * alpha, roundNearest);
    this.lastChannel = makeDivisible(1280 * alpha, roundNearest);

    const features: Module[] = [new ConvBNReLU(3, inputChannel, 3, 2, 1, rng)];
    for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
      const outputChannel = makeDivisible(c * alpha, roundNearest);
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(inputChannel, outputChannel, i === 0 ? s : 1, t, rng));
        inputChannel = outputChannel;
      }
    }
    features.push(new ConvBNReLU(inputChannel, this.lastChannel, 1, 1, 1, rng));
    this.features = this.registerModule('features', new Sequential(...features));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(new Dropout(cfg.dropout ?? 0.2, { rng }), new Linear(this.lastChannel, numClasses, { rng })),
    );
    this.initWeights(rng);
  }

  /** The seed's init: kaiming-normal (fan_out) convs, BN 1/0, Linear N(0, 0.01) with zero bias. */
  private initWeights(rng: Rng): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        kaimingNormal_(m.weight.data, 'fan_out', rng);
        if (m.bias) constant_(m.bias.data, 0);
      } else if (m instanceof BatchNorm2d) {
        constant_(m.weight.data, 1);
        constant_(m.bias.data, 0);
      } else if (m instanceof Linear) {
        normal_(m.weight.data, 0, 0.01, rng);
        if (m.bias) constant_(m.bias.data, 0);
      }
    }
  }

  forward(x: Tensor): Tensor {
    return this.head(this.forwardFeatures(x));
  }

  /** The backbone output, `features.18` (before pooling). */
  forwardFeatures(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== 3) {
      throw new Error(`MobileNetV2: expected input [N, 3, H, W], got [${x.shape.join(', ')}]`);
    }
    return this.features.forward(x);
  }

  /** avgpool + flatten: the `pooled` feature vector the classifier sees. */
  pool(features: Tensor): Tensor {
    return this.flatten.forward(this.avgpool.forward(features));
  }

  head(features: Tensor): Tensor {
    return this.classifier.forward(this.pool(features));
  }

  override backward(gradOut: Tensor, needInputGrad = false): Tensor | null {
    const featuresTrainable = this.features.hasTrainableParameters();
    const gPooled = this.classifier.backward(gradOut, needInputGrad || featuresTrainable);
    if (!gPooled) return null;
    const gFeat = this.avgpool.backward(this.flatten.backward(gPooled)!)!;
    return this.features.backward(gFeat, needInputGrad);
  }
}
