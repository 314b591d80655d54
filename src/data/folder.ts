/**
 * Node-only: torchvision-style `ImageFolder` datasets (one sub-folder per class,
 * class index = position in the byte-sorted folder names), split into train and
 * val either by DIR/train + DIR/val folders or by the standard rule of split.ts.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compareBytes, isImageFileName, isValIndex } from './split.js';

export interface Sample {
  path: string;
  label: number;
}

export interface ImageFolderSplit {
  root: string;
  /** Class names; index = label. */
  classes: string[];
  train: Sample[];
  val: Sample[];
  /** How the split was made. */
  layout: 'standard-split' | 'train-val-folders';
  /** Files in class folders that are not images (by extension), skipped. */
  skipped: string[];
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function listDir(dir: string, what: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : (e as Error).message;
    throw new Error(`${dir}: cannot read ${what} (${why})`);
  }
}

/**
 * Class folders of `dir`, sorted in byte order as torchvision's `find_classes`.
 * Hidden folders (`.ipynb_checkpoints`, ...) are not classes.
 */
export function findClasses(dir: string): string[] {
  const classes = listDir(dir, 'dataset folder')
    .filter((n) => !n.startsWith('.') && isDir(join(dir, n)))
    .sort(compareBytes);
  if (classes.length === 0) {
    throw new Error(`${dir}: no class folders found (expected one sub-folder of images per class, e.g. ${join(dir, 'daisy')}/*.jpg)`);
  }
  return classes;
}

/** Image files of one class folder, sorted in byte order; non-images go to `skipped`. */
export function listImages(classDir: string, skipped: string[] = []): string[] {
  const names = listDir(classDir, 'class folder').sort(compareBytes);
  const images: string[] = [];
  for (const n of names) {
    if (isImageFileName(n) && !isDir(join(classDir, n))) images.push(n);
    else skipped.push(join(classDir, n));
  }
  if (images.length === 0) throw new Error(`${classDir}: class folder has no images (.jpg, .jpeg, .png or .bmp)`);
  return images;
}

/** Every image of the class folders under `dir` with its label, class by class. */
export function scanClasses(dir: string, classes: readonly string[], skipped: string[] = []): Sample[][] {
  return classes.map((c, label) => {
    const classDir = join(dir, c);
    if (!isDir(classDir)) throw new Error(`${classDir}: class folder '${c}' is missing`);
    return listImages(classDir, skipped).map((n) => ({ path: join(classDir, n), label }));
  });
}

/**
 * Loads an image-classification folder. `DIR/train` and `DIR/val` folders (both present)
 * are used as given; val's class folders must be among train's. Otherwise DIR's class
 * folders are split by the standard rule.
 */
export function loadImageFolder(root: string): ImageFolderSplit {
  if (!isDir(root)) {
    listDir(root, 'dataset folder'); // throws the precise reason
    throw new Error(`${root}: not a folder`);
  }
  const skipped: string[] = [];
  const trainDir = join(root, 'train');
  const valDir = join(root, 'val');
  if (isDir(trainDir) && isDir(valDir)) {
    const classes = findClasses(trainDir);
    const valClasses = findClasses(valDir);
    const unknown = valClasses.filter((c) => !classes.includes(c));
    if (unknown.length) throw new Error(`${valDir}: class folder(s) ${unknown.join(', ')} not in ${trainDir}`);
    const train = scanClasses(trainDir, classes, skipped).flat();
    const val = valClasses.flatMap((c) =>
      listImages(join(valDir, c), skipped).map((n) => ({ path: join(valDir, c, n), label: classes.indexOf(c) })),
    );
    return { root, classes, train, val, layout: 'train-val-folders', skipped };
  }
  const classes = findClasses(root);
  const train: Sample[] = [];
  const val: Sample[] = [];
  for (const samples of scanClasses(root, classes, skipped)) {
    samples.forEach((s, i) => (isValIndex(i) ? val : train).push(s));
  }
  return { root, classes, train, val, layout: 'standard-split', skipped };
}

/** The seed's class_indices.json text: `{"0": "daisy", ...}`, indented by 4 as its json.dumps(indent=4). */
export function classIndicesJson(classes: readonly string[]): string {
  const obj: Record<string, string> = {};
  classes.forEach((c, i) => (obj[String(i)] = c));
  return JSON.stringify(obj, null, 4);
}
