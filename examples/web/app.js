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
  } else if (data.type === 'result') {
    show(data);
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

function show(r) {
  const list = $('top5');
  list.replaceChildren(...r.top5.map(({ label, prob, index }) => {
    const li = document.createElement('li');
    li.dataset.index = index;
    const name = document.createElement('div');
    name.className = 'name';
    const l = document.createElement('span');
    l.className = 'label';
    l.textContent = label.split(',')[0];
    l.title = label;
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
