// The page: hands photos to the worker and draws its answers. All model work
// happens in worker.js, so the page stays responsive during inference.
const $ = (id) => document.getElementById(id);
const status = $('status');
const input = $('file');
const drop = $('drop');
const params = new URLSearchParams(location.search);

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.postMessage({ type: 'init', backend: params.get('backend') ?? 'wasm' });

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    document.body.dataset.backend = data.backend;
    $('backend').textContent = data.backend === 'wasm' ? 'WASM (SIMD kernels)' : 'JS (reference engine)';
    if (data.fallback) $('backend').title = `WASM unavailable: ${data.fallback}`;
    setStatus('ready', `Model ready (${(data.weightBytes / 2 ** 20).toFixed(1)} MB of weights loaded in ${ms(data.loadMs)}). Pick a photo.`);
    input.disabled = false;
    ftStart.disabled = false;
    setFt('idle', 'Ready to fine-tune.');
  } else if (data.type === 'result') {
    show(data);
  } else if (data.type.startsWith('ft-')) {
    onFinetune(data);
  } else if (data.type === 'error') {
    setStatus('error', `Error: ${data.message}`);
    input.disabled = false;
  }
};
worker.onerror = (e) => setStatus('error', `Worker failed: ${e.message}`);

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function ms(x) {
  return `${x.toFixed(x < 10 ? 1 : 0)} ms`;
}

function classify(file) {
  if (!file || input.disabled) return;
  if (!file.type.startsWith('image/')) return setStatus('error', `${file.name}: not an image`);
  const preview = $('preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  input.disabled = true;
  setStatus('busy', `Classifying ${file.name}…`);
  worker.postMessage({ type: 'predict', file });
}

/** One list row: the label, its probability, and a bar of that width. */
function probabilityBar(text, prob, title) {
  const li = document.createElement('li');
  const name = document.createElement('div');
  name.className = 'name';
  const l = document.createElement('span');
  l.className = 'label';
  l.textContent = text;
  if (title) l.title = title;
  const p = document.createElement('span');
  p.textContent = `${(prob * 100).toFixed(1)}%`;
  name.append(l, p);
  const bar = document.createElement('div');
  bar.className = 'bar';
  const fill = document.createElement('div');
  fill.style.width = `${(prob * 100).toFixed(2)}%`;
  bar.append(fill);
  li.append(name, bar);
  return li;
}

function show(r) {
  const list = $('top5');
  list.replaceChildren(...r.top5.map(({ label, prob, index }) => {
    const li = probabilityBar(label.split(',')[0], prob, label);
    li.dataset.index = index;
    return li;
  }));
  $('output').hidden = false;
  $('timing').textContent =
    `Inference ${ms(r.inferenceMs)} on ${r.backend.toUpperCase()} (224×224); decode + preprocessing of the ${r.width}×${r.height} photo ${ms(r.preprocessMs)}.`;
  $('timing').dataset.inferenceMs = r.inferenceMs.toFixed(2);
  document.body.dataset.top1 = r.top5[0].label;
  setStatus('done', 'Done. Pick or drop another photo.');
  input.disabled = false;
}

input.addEventListener('change', () => classify(input.files?.[0]));
for (const t of ['dragenter', 'dragover']) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); });
for (const t of ['dragleave', 'drop']) drop.addEventListener(t, () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); classify(e.dataTransfer?.files?.[0]); });

// Fine-tuning panel: the worker streams the loss; the curve is redrawn as points arrive.
const ftStart = $('ft-start');
const ftStatus = $('ft-status');
const ftInput = $('ft-file');
const lossCanvas = $('ft-loss');
let lossPoints = [];

function setFt(state, text) {
  ftStatus.dataset.state = state;
  ftStatus.textContent = text;
}

function onFinetune(data) {
  if (data.type === 'ft-progress') {
    setFt('busy', `Extracting features: ${data.done} / ${data.total} photos…`);
  } else if (data.type === 'ft-loss') {
    lossPoints.push(...data.points);
    const last = lossPoints[lossPoints.length - 1];
    setFt('busy', `Training the head: step ${last.step}, loss ${last.loss.toFixed(4)}`);
    drawLoss();
  } else if (data.type === 'ft-done') {
    ftStatus.dataset.featuresMs = data.featuresMs.toFixed(1);
    ftStatus.dataset.trainMs = data.trainMs.toFixed(1);
    ftStatus.dataset.finalLoss = String(data.finalLoss);
    setFt('trained',
      `Trained: ${data.photos} photos' features in ${ms(data.featuresMs)} on ${data.backend.toUpperCase()} ` +
      `(${ms(data.decodeMs)} of it fetch + decode + resize), ` +
      `${data.steps} Adam steps in ${ms(data.trainMs)}; final loss ${data.finalLoss.toFixed(4)}, ` +
      `train accuracy ${(data.trainAccuracy * 100).toFixed(0)}%. Pick a flower photo.`);
    ftInput.disabled = false;
    ftStart.disabled = false;
  } else if (data.type === 'ft-result') {
    showFlower(data);
  } else if (data.type === 'ft-error') {
    setFt('error', `Error: ${data.message}`);
    ftStart.disabled = false;
    ftInput.disabled = !ftStatus.dataset.finalLoss;
  }
}

/** Loss against step on a linear scale from 0, so "halved" reads at a glance. */
function drawLoss() {
  const ctx = lossCanvas.getContext('2d');
  const { width: W, height: H } = lossCanvas;
  const pad = { l: 48, r: 12, t: 12, b: 28 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#4a5563';
  ctx.strokeStyle = '#c4cad3';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, H - pad.b);
  ctx.lineTo(W - pad.r, H - pad.b);
  ctx.stroke();
  if (lossPoints.length === 0) return;
  const maxStep = Math.max(100, lossPoints[lossPoints.length - 1].step);
  const maxLoss = Math.max(...lossPoints.map((p) => p.loss)) * 1.05;
  const x = (s) => pad.l + ((s - 1) / Math.max(1, maxStep - 1)) * (W - pad.l - pad.r);
  const y = (l) => H - pad.b - (l / maxLoss) * (H - pad.t - pad.b);
  ctx.textAlign = 'right';
  for (const l of [0, maxLoss / 2, maxLoss]) ctx.fillText(l.toFixed(2), pad.l - 6, y(l) + 4);
  ctx.textAlign = 'center';
  ctx.fillText('step', (W + pad.l) / 2, H - 8);
  ctx.fillText(String(maxStep), x(maxStep), H - 8);
  ctx.strokeStyle = '#2c9a52';
  ctx.lineWidth = 2;
  ctx.beginPath();
  lossPoints.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p.loss)) : ctx.moveTo(x(p.step), y(p.loss))));
  ctx.stroke();
  // What the test (and anyone curious) can read back without parsing pixels.
  lossCanvas.dataset.points = String(lossPoints.length);
  lossCanvas.dataset.firstLoss = String(lossPoints[0].loss);
  lossCanvas.dataset.lastLoss = String(lossPoints[lossPoints.length - 1].loss);
}

function showFlower(r) {
  $('ft-probs').replaceChildren(...r.ranked.map(({ label, prob }) => probabilityBar(label, prob)));
  $('ft-output').hidden = false;
  document.body.dataset.flower = r.ranked[0].label;
  setFt('classified', `It looks like a ${r.ranked[0].label} (${ms(r.ms)}). Pick another photo, or train again.`);
  ftInput.disabled = false;
  ftStart.disabled = false;
}

ftStart.addEventListener('click', () => {
  ftStart.disabled = true;
  ftInput.disabled = true;
  lossPoints = [];
  delete ftStatus.dataset.finalLoss;
  drawLoss();
  setFt('busy', 'Fetching the flower photos…');
  worker.postMessage({ type: 'finetune' });
});

ftInput.addEventListener('change', () => {
  const file = ftInput.files?.[0];
  if (!file) return;
  const preview = $('ft-preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  ftInput.disabled = true;
  setFt('busy', `Classifying ${file.name}…`);
  worker.postMessage({ type: 'ft-predict', file });
});
drawLoss();
