// The page at /: tag a dropped or chosen song through the JSON API and draw what comes back.
// Everything here is drawn from the API's answers: the tags, bars and taggram of POST /v1/tag,
// and, when the server has a catalog, the songs POST /v1/similar finds.
"use strict";

const $ = (id) => document.getElementById(id);
const TOP_TAGS = 5;           // tags shown as chips
const BARS = 12;              // likelihood bars shown
const TAGGRAM_ROWS = 16;      // taggram rows shown until "all tags" is chosen
const SIMILAR = 8;            // similar songs listed
const VIRIDIS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"];

const state = { token: sessionStorage.getItem("musicnn-token") || "", models: {}, catalog: null,
                file: null, record: null, allRows: false, rows: [], layout: null };

// ---- the API ----------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { ...options, headers });
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `the server answered ${response.status} ${response.statusText}` };
  }
  if (response.status === 401) $("token-form").hidden = false;
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

async function start() {
  try {
    const [listing, health] = await Promise.all([api("/v1/models"), api("/v1/health")]);
    $("token-form").hidden = true;
    const select = $("model");
    select.replaceChildren();
    for (const model of listing.models) {
      state.models[model.name] = model;
      select.append(new Option(`${model.name} (${model.tags.length} tags)`, model.name, model.default, model.default));
    }
    state.catalog = health.catalog;
    const catalog = state.catalog ? ` Songs like it come from a catalog of ${state.catalog.songs}.` : "";
    say(`Ready.${catalog}`);
  } catch (error) {
    say(error.message, true);
  }
}

async function tagSong(file) {
  state.file = file;
  const model = $("model").value;
  say(`Listening to ${file.name} with ${model} …`);
  document.body.classList.add("busy");
  try {
    const query = new URLSearchParams({ model, topN: String(TOP_TAGS), taggram: "true" });
    const record = await api(`/v1/tag?${query}`, { method: "POST", body: file });
    showSong(file, record);
    say(`${record.timestamps.length} patches of ${file.name} tagged by ${record.model}.`);
    if (state.catalog) await showSimilar(file);
  } catch (error) {
    say(`${file.name}: ${error.message}`, true);
  } finally {
    document.body.classList.remove("busy");
  }
}

async function showSimilar(file) {
  const answer = await api(`/v1/similar?n=${SIMILAR}`, { method: "POST", body: file });
  $("similar-note").textContent = `by ${answer.model} ${answer.feature} embeddings`;
  $("similar-list").replaceChildren(...answer.songs.map((song) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = song.path;
    name.title = song.path;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("i");
    fill.style.width = `${(Math.max(song.similarity, 0) * 100).toFixed(1)}%`;  // cosine similarity, up to 1
    track.append(fill);
    const value = document.createElement("b");
    value.textContent = song.similarity.toFixed(3);
    item.append(name, track, value);
    return item;
  }));
  $("similar").hidden = false;
}

// ---- what a song's record shows ---------------------------------------------------------------

function showSong(file, record) {
  state.record = record;
  $("result").hidden = false;
  $("similar").hidden = true;
  $("song-name").textContent = file.name;
  const player = $("player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);

  $("top-tags").replaceChildren(...record.top_tags.map((tag, rank) => {
    const chip = document.createElement("li");
    chip.textContent = tag;
    chip.style.setProperty("--strength", String(record.likelihoods[tag]));
    chip.title = `#${rank + 1}: ${record.likelihoods[tag].toFixed(3)}`;
    return chip;
  }));

  const ranked = Object.entries(record.likelihoods).sort((a, b) => b[1] - a[1]);
  $("bars").replaceChildren(...ranked.slice(0, BARS).map(([tag, value]) => {
    const row = document.createElement("div");
    row.className = "bar";
    const label = document.createElement("span");
    label.textContent = tag;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("i");
    fill.style.width = `${(value * 100).toFixed(1)}%`;
    track.append(fill);
    const number = document.createElement("b");
    number.textContent = value.toFixed(2);
    row.append(label, track, number);
    return row;
  }));

  const tags = Object.keys(record.likelihoods);
  state.ranked = ranked.map(([tag]) => tags.indexOf(tag));  // taggram columns, likeliest tag first
  drawTaggram();
}

// ---- the taggram ------------------------------------------------------------------------------

function color(value) {
  const position = Math.min(Math.max(value, 0), 1) * (VIRIDIS.length - 1);
  const low = Math.floor(position), high = Math.min(low + 1, VIRIDIS.length - 1);
  const mix = (a, b) => Math.round(a + (b - a) * (position - low));
  const [r1, g1, b1] = rgb(VIRIDIS[low]), [r2, g2, b2] = rgb(VIRIDIS[high]);
  return `rgb(${mix(r1, r2)}, ${mix(g1, g2)}, ${mix(b1, b2)})`;
}

function rgb(hex) {
  return [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16));
}

function patchStep(record) {
  const times = record.timestamps;
  if (times.length > 1) return times[1] - times[0];
  return state.models[record.model]?.patch_seconds || 3;
}

function clock(seconds) {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function drawTaggram() {
  const record = state.record;
  if (!record) return;
  const tags = Object.keys(record.likelihoods);
  const rows = state.allRows ? state.ranked : state.ranked.slice(0, TAGGRAM_ROWS);
  $("all-tags").textContent = state.allRows ? `top ${TAGGRAM_ROWS} tags` : `all ${tags.length} tags`;
  $("all-tags").hidden = tags.length <= TAGGRAM_ROWS;

  const canvas = $("taggram");
  const context = canvas.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.parentElement.clientWidth;
  const rowHeight = 18, left = 118, bottom = 24, top = 4;
  const height = top + rows.length * rowHeight + bottom;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);

  const step = patchStep(record);
  const duration = record.timestamps[record.timestamps.length - 1] + step;
  const plotWidth = width - left - 8;
  const x = (seconds) => left + (seconds / duration) * plotWidth;
  const styles = getComputedStyle(document.body);
  context.font = `12px ${styles.fontFamily}`;
  context.textBaseline = "middle";

  rows.forEach((column, row) => {
    const y = top + row * rowHeight;
    context.fillStyle = styles.getPropertyValue("--text");
    context.textAlign = "right";
    context.fillText(tags[column], left - 8, y + rowHeight / 2);
    record.taggram.forEach((patch, index) => {
      const start = record.timestamps[index];
      context.fillStyle = color(patch[column]);
      context.fillRect(x(start), y, Math.max(x(start + step) - x(start), 1) + 0.5, rowHeight - 1);
    });
  });

  context.fillStyle = styles.getPropertyValue("--muted");
  context.textAlign = "center";
  const ticks = Math.max(1, Math.min(10, Math.floor(plotWidth / 70)));
  for (let tick = 0; tick <= ticks; tick++) {
    const seconds = (duration * tick) / ticks;
    context.fillText(clock(seconds), Math.min(Math.max(x(seconds), left + 12), width - 20), height - bottom / 2);
  }
  state.layout = { left, top, rowHeight, rows, duration, plotWidth, height: rows.length * rowHeight, x };
  drawPlayhead();
}

function drawPlayhead() {
  const layout = state.layout;
  const line = $("taggram").parentElement.querySelector(".playhead") || document.createElement("div");
  line.className = "playhead";
  $("taggram").parentElement.append(line);
  if (!layout) return;
  const time = $("player").currentTime || 0;
  line.style.left = `${layout.x(Math.min(time, layout.duration))}px`;
  line.style.top = `${layout.top}px`;
  line.style.height = `${layout.height}px`;
  line.hidden = time === 0;
}

function pointAt(event) {
  const layout = state.layout;
  const box = $("taggram").getBoundingClientRect();
  const px = event.clientX - box.left, py = event.clientY - box.top;
  const row = Math.floor((py - layout.top) / layout.rowHeight);
  const seconds = ((px - layout.left) / layout.plotWidth) * layout.duration;
  if (row < 0 || row >= layout.rows.length || seconds < 0 || seconds > layout.duration) return null;
  const times = state.record.timestamps;
  let patch = 0;
  while (patch + 1 < times.length && times[patch + 1] <= seconds) patch++;
  return { row, seconds, patch, px, py };
}

// ---- wiring -----------------------------------------------------------------------------------

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function setUp() {
  const drop = $("drop"), input = $("file");
  $("choose").addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
  input.addEventListener("change", () => { if (input.files[0]) tagSong(input.files[0]); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) tagSong(file);
  });
  $("model").addEventListener("change", () => { if (state.file) tagSong(state.file); });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("musicnn-token", state.token);
    start();
  });
  $("all-tags").addEventListener("click", () => { state.allRows = !state.allRows; drawTaggram(); });

  const canvas = $("taggram"), tooltip = $("tooltip");
  canvas.addEventListener("mousemove", (event) => {
    const point = state.layout && pointAt(event);
    tooltip.hidden = !point;
    if (!point) return;
    const column = state.layout.rows[point.row];
    const tag = Object.keys(state.record.likelihoods)[column];
    const start = state.record.timestamps[point.patch];
    tooltip.textContent = `${tag} · ${clock(start)}–${clock(start + patchStep(state.record))} · ` +
                          state.record.taggram[point.patch][column].toFixed(3);
    tooltip.style.left = `${point.px + 12}px`;
    tooltip.style.top = `${point.py + 12}px`;
  });
  canvas.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  canvas.addEventListener("click", (event) => {
    const point = state.layout && pointAt(event);
    if (!point) return;
    $("player").currentTime = point.seconds;
    $("player").play().catch(() => {});
  });
  const player = $("player");
  let frame = 0;
  const follow = () => { drawPlayhead(); if (!player.paused) frame = requestAnimationFrame(follow); };
  player.addEventListener("play", () => { cancelAnimationFrame(frame); follow(); });
  player.addEventListener("seeked", drawPlayhead);
  window.addEventListener("resize", drawTaggram);
  start();
}

setUp();
