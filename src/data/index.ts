// Runtime-safe data API. The Node-only decoder lives in './decode.js' and is
// deliberately not re-exported, so browser bundles never pull in jimp.
export { type RgbImage, createImage } from './image.js';
export { resizeBilinear, resizeBilinearPixels } from './resize.js';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  centerCrop,
  crop,
  hflip,
  normalize,
  resize,
  resizeShorter,
  roundHalfEven,
  shorterSideSize,
  toNormalizedTensor,
  toTensor,
} from './transforms.js';
export {
  type ColorJitterOptions,
  type CropBox,
  type RandomResizedCropOptions,
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  blend,
  colorJitter,
  randomHorizontalFlip,
  randomResizedCrop,
  randomResizedCropParams,
  toGray,
} from './random_transforms.js';
