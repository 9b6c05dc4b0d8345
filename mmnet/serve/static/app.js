// mmnet's live page: camera -> S×S squash (as in training) -> the ONNX model in onnxruntime-web -> an
// S×S alpha -> upscaled on a canvas and composited over the chosen background, frame after frame.
// Everything is served by `mmnet serve` (the runtime under /ort/, the models under /models/): no CDN.
// window.mmnetStats reports what the page does, for people (the HUD) and for tests and benchmarks.
//
// Address parameters: ?model=NAME  ?ep=wasm|webgpu  ?threads=N  ?pace=free (matte back to back instead of
// once per camera frame: for measuring speed)  ?background=blur|colour|image|none  ?view=composite|matte

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const FPS_WINDOW_MS = 2000;
const MEAN_OF = 30; // frames averaged for the times shown
const MAX_SIDE = 960; // the output canvas's longer side
const BLUR = 0.02; // blur radius as a fraction of the longer side (as `mmnet matte --background blur`)

const stats = (window.mmnetStats = {
  status: 'starting', error: null, ready: false, frames: 0, fps: 0, inferMs: 0, frameMs: 0,
  ep: null, threads: 1, crossOriginIsolated: window.crossOriginIsolated === true, model: null, size: 0,
  alphaMean: 0, person: 0, soft: 0, width: 0, height: 0,
});

const state = {
  ort: null, ep: 'wasm', matter: null, source: null, backgroundImage: null, generation: 0,
  ends: [], inferTimes: [], frameTimes: [], newFrames: 0, frameWaiters: [],
};

function setStatus(text, isError = false) {
  const line = $('status');
  line.textContent = text;
  line.classList.toggle('error', isError);
  stats.status = text;
  if (isError) stats.error = text;
}

// ------------------------------------------------------------------------------------------ runtime
async function loadRuntime() {
  const wanted = params.get('ep'); // 'wasm', 'webgpu', or auto
  let gpu = false;
  if (wanted !== 'wasm' && navigator.gpu) {
    try { gpu = Boolean(await navigator.gpu.requestAdapter()); } catch { gpu = false; }
  }
  const ort = await import(gpu ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  const cores = navigator.hardwareConcurrency || 1;
  // Threads need SharedArrayBuffer, which needs cross-origin isolation (the server's COOP/COEP headers).
  ort.env.wasm.numThreads = window.crossOriginIsolated ? Number(params.get('threads')) || Math.min(4, cores) : 1;
  state.ort = ort;
  state.ep = gpu ? 'webgpu' : 'wasm';
  stats.threads = ort.env.wasm.numThreads;
  if (wanted === 'webgpu' && !gpu) setStatus('no WebGPU in this browser: running WebAssembly');
}

async function createSession(model) {
  const { ort } = state;
  const options = (ep) => ({ executionProviders: [ep], graphOptimizationLevel: 'all' });
  try {
    return { session: await ort.InferenceSession.create(model.url, options(state.ep)), ep: state.ep };
  } catch (error) {
    if (state.ep === 'wasm') throw error;
    console.warn(`${state.ep} failed, falling back to wasm:`, error);
    return { session: await ort.InferenceSession.create(model.url, options('wasm')), ep: 'wasm' };
  }
}

// One model: the S×S network input from a frame, the session run, the S×S alpha as a canvas mask.
class Matter {
  constructor(session, model) {
    this.session = session;
    this.name = model.name;
    this.size = model.size;
    const side = this.size;
    this.small = canvas(side, side);
    this.smallContext = this.small.getContext('2d', { willReadFrequently: true });
    this.input = new Float32Array(3 * side * side);
    this.mask = canvas(side, side);
    this.maskContext = this.mask.getContext('2d');
    this.maskPixels = this.maskContext.createImageData(side, side);
  }

  async run(source) {
    const side = this.size, n = side * side, input = this.input;
    this.smallContext.drawImage(source, 0, 0, side, side);
    const rgba = this.smallContext.getImageData(0, 0, side, side).data;
    for (let i = 0, j = 0; i < n; i += 1, j += 4) {
      input[i] = rgba[j] / 255;
      input[n + i] = rgba[j + 1] / 255;
      input[2 * n + i] = rgba[j + 2] / 255;
    }
    const start = performance.now();
    const tensor = new state.ort.Tensor('float32', input, [1, 3, side, side]);
    const output = await this.session.run({ image: tensor });
    const inferMs = performance.now() - start;
    const alpha = output.alpha.data;
    const mask = this.maskPixels.data;
    let sum = 0, person = 0, soft = 0;
    for (let i = 0, j = 0; i < n; i += 1, j += 4) {
      const a = Math.min(1, Math.max(0, alpha[i]));
      sum += a;
      if (a > 0.5) person += 1;
      if (a > 0.02 && a < 0.98) soft += 1;
      mask[j] = mask[j + 1] = mask[j + 2] = 255;
      mask[j + 3] = Math.round(a * 255);
    }
    this.maskContext.putImageData(this.maskPixels, 0, 0);
    output.alpha.dispose?.();
    Object.assign(stats, { alphaMean: sum / n, person: person / n, soft: soft / n });
    return inferMs;
  }

  release() { this.session.release?.(); }
}

async function useModel(model) {
  const generation = (state.generation += 1);
  setStatus(`loading ${model.name}…`);
  stats.ready = false;
  const old = state.matter;
  state.matter = null;
  old?.release();
  const { session, ep } = await createSession(model);
  if (generation !== state.generation) { session.release?.(); return; }
  state.matter = new Matter(session, model);
  Object.assign(stats, { model: model.name, size: model.size, ep, frames: 0, fps: 0 });
  state.ends = []; state.inferTimes = []; state.frameTimes = [];
  stats.ready = true;
  setStatus(`${model.name} on ${ep === 'wasm' ? `WebAssembly, ${stats.threads} thread${stats.threads > 1 ? 's' : ''}` : 'WebGPU'}`);
}

// ------------------------------------------------------------------------------------------- sources
async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('no camera here: browsers give the camera only to https pages and localhost ' +
      '(run `mmnet serve --certfile … --keyfile …` for a phone), or choose a video file as the source');
  }
  const video = $('camera');
  video.srcObject = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' }, audio: false,
  });
  await video.play();
  useSource(video);
}

async function openFile(file) {
  const video = $('camera');
  if (file.type.startsWith('image/')) {
    useSource(await createImageBitmap(file));
    return;
  }
  video.srcObject?.getTracks().forEach((track) => track.stop());
  video.srcObject = null;
  video.src = URL.createObjectURL(file);
  video.loop = true;
  await video.play();
  useSource(video);
}

function sourceSize(source) {
  return source instanceof HTMLVideoElement ? [source.videoWidth, source.videoHeight] : [source.width, source.height];
}

function useSource(source) {
  state.source = source;
  if (source instanceof HTMLVideoElement && 'requestVideoFrameCallback' in source) {
    const tick = () => { countFrame(); source.requestVideoFrameCallback(tick); };
    source.requestVideoFrameCallback(tick);
  }
}

function countFrame() {
  state.newFrames += 1;
  state.frameWaiters.splice(0).forEach((resolve) => resolve());
}

// Wait for a frame not matted yet (a camera frame, or the next screen refresh where frames are not told).
function nextFrame() {
  const source = state.source;
  if (params.get('pace') === 'free') return new Promise((resolve) => setTimeout(resolve, 0));
  if (source instanceof HTMLVideoElement && 'requestVideoFrameCallback' in source) {
    if (state.newFrames > 0) return Promise.resolve();
    return new Promise((resolve) => state.frameWaiters.push(resolve));
  }
  return new Promise((resolve) => requestAnimationFrame(resolve));
}

// ------------------------------------------------------------------------------------------ drawing
function canvas(width, height) {
  const element = document.createElement('canvas');
  element.width = width;
  element.height = height;
  return element;
}

const person = canvas(1, 1);

function render(source, matter) {
  const output = $('output');
  const [sourceWidth, sourceHeight] = sourceSize(source);
  const scale = Math.min(1, MAX_SIDE / Math.max(sourceWidth, sourceHeight));
  const width = Math.round(sourceWidth * scale), height = Math.round(sourceHeight * scale);
  for (const element of [output, person]) {
    if (element.width !== width || element.height !== height) { element.width = width; element.height = height; }
  }
  Object.assign(stats, { width, height });
  const context = output.getContext('2d');
  context.imageSmoothingQuality = 'high';
  if ($('view').value === 'matte') {
    context.fillStyle = '#000';
    context.fillRect(0, 0, width, height);
    context.drawImage(matter.mask, 0, 0, width, height);
    return;
  }
  drawBackground(context, source, width, height);
  // The person: the frame, kept where the upscaled mask is (bilinear), drawn over the background.
  const cut = person.getContext('2d');
  cut.globalCompositeOperation = 'copy';
  cut.drawImage(source, 0, 0, width, height);
  cut.globalCompositeOperation = 'destination-in';
  cut.imageSmoothingQuality = 'high';
  cut.drawImage(matter.mask, 0, 0, width, height);
  context.drawImage(person, 0, 0);
}

function drawBackground(context, source, width, height) {
  const kind = $('background').value;
  if (kind === 'colour') {
    context.fillStyle = $('colour').value;
    context.fillRect(0, 0, width, height);
  } else if (kind === 'image' && state.backgroundImage) {
    const image = state.backgroundImage;
    const scale = Math.max(width / image.width, height / image.height); // cover, centred
    const w = image.width * scale, h = image.height * scale;
    context.drawImage(image, (width - w) / 2, (height - h) / 2, w, h);
  } else if (kind === 'blur') {
    context.filter = `blur(${Math.max(2, Math.round(BLUR * Math.max(width, height)))}px)`;
    context.drawImage(source, 0, 0, width, height);
    context.filter = 'none';
  } else {
    context.drawImage(source, 0, 0, width, height);
  }
}

function record(end, inferMs, frameMs) {
  const push = (list, value) => { list.push(value); if (list.length > MEAN_OF) list.shift(); };
  const mean = (list) => list.reduce((a, b) => a + b, 0) / list.length;
  state.ends.push(end);
  while (state.ends[0] < end - FPS_WINDOW_MS) state.ends.shift();
  push(state.inferTimes, inferMs);
  push(state.frameTimes, frameMs);
  const span = (end - state.ends[0]) / 1000;
  stats.frames += 1;
  stats.fps = state.ends.length > 1 && span > 0 ? (state.ends.length - 1) / span : 0;
  stats.inferMs = mean(state.inferTimes);
  stats.frameMs = mean(state.frameTimes);
  const engine = stats.ep === 'wasm' ? `wasm ×${stats.threads}` : stats.ep;
  $('hud').textContent = `${stats.fps.toFixed(1)} fps\nnetwork ${stats.inferMs.toFixed(1)} ms · ${engine}\n` +
    `${stats.model} (${stats.size}×${stats.size})`;
}

async function loop() {
  for (;;) {
    const { matter, source } = state;
    const [width] = source ? sourceSize(source) : [0];
    if (!matter || !width) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
      continue;
    }
    state.newFrames = 0;
    const start = performance.now();
    try {
      const inferMs = await matter.run(source);
      if (matter !== state.matter) continue; // the model changed meanwhile
      render(source, matter);
      const end = performance.now();
      record(end, inferMs, end - start);
    } catch (error) {
      if (matter === state.matter) throw error;
    }
    await nextFrame();
  }
}

// ------------------------------------------------------------------------------------------- controls
function showBackgroundFields() {
  const kind = $('background').value;
  $('colour-field').hidden = kind !== 'colour';
  $('image-field').hidden = kind !== 'image';
}

async function main() {
  window.addEventListener('unhandledrejection', (event) => setStatus(String(event.reason?.message || event.reason), true));
  window.addEventListener('error', (event) => setStatus(String(event.message), true));
  for (const name of ['background', 'view']) {
    if (params.get(name)) $(name).value = params.get(name);
  }
  showBackgroundFields();
  $('background').addEventListener('change', showBackgroundFields);
  $('image').addEventListener('change', async (event) => {
    const [file] = event.target.files;
    if (file) state.backgroundImage = await createImageBitmap(file);
  });
  $('clip').addEventListener('change', (event) => {
    const [file] = event.target.files;
    if (file) openFile(file).catch((error) => setStatus(`cannot play ${file.name}: ${error.message}`, true));
  });

  const response = await fetch('/api/models');
  if (!response.ok) throw new Error(`/api/models: HTTP ${response.status}`);
  const { default: fallback, models } = await response.json();
  const select = $('model');
  for (const model of models) select.add(new Option(`${model.name} (${model.size}×${model.size})`, model.name));
  const chosen = models.find((m) => m.name === params.get('model')) || models.find((m) => m.name === fallback) || models[0];
  if (!chosen) throw new Error('the server has no shipped model to run');
  select.value = chosen.name;
  select.addEventListener('change', () => useModel(models.find((m) => m.name === select.value)));

  await loadRuntime();
  const camera = openCamera().then(() => null, (error) => error);
  await useModel(chosen);
  const failure = await camera;
  if (failure) {
    setStatus(failure.name === 'NotAllowedError' ? 'the camera is blocked: allow it, or choose a video file as the source'
      : `no camera: ${failure.message}`, true);
  }
  await loop();
}

main().catch((error) => setStatus(String(error?.message || error), true));
