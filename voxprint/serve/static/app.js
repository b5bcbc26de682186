// voxprint page: record or drop audio, identify, enrol, list and forget speakers.
// Microphone audio is encoded to 16-bit WAV here, so the server needs no browser codec.
"use strict";

const CLIP_SECONDS = 3;
const $ = (id) => document.getElementById(id);
const state = { model: "", threshold: 0.5, clips: [null, null, null], files: [], busy: false };

// ------------------------------------------------------------------ server calls

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path, options = {}) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON: handled below */ }
  if (!res.ok) {
    const msg = body && body.message ? body.message : `HTTP ${res.status}`;
    const err = new Error(msg);
    err.code = body && body.error;
    throw err;
  }
  return body;
}

function say(message) { $("status").textContent = message || ""; }

// ------------------------------------------------------------------ recording

function encodeWav(samples, rate) {
  const buf = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(buf);
  const text = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  text(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  text(36, "data"); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buf], { type: "audio/wav" });
}

let stopRequested = null;

// Records up to `seconds` (or until stopRecording()) -> WAV Blob. onTick(fraction, level) drives the UI.
async function record(seconds, onTick) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  try {
    await ctx.audioWorklet.addModule("/static/recorder-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "recorder");
    const want = Math.round(seconds * ctx.sampleRate);
    const blocks = [];
    let have = 0;
    await new Promise((resolve) => {
      stopRequested = resolve;
      node.port.onmessage = (e) => {
        const block = e.data;
        blocks.push(block);
        have += block.length;
        let sum = 0;
        for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
        onTick(Math.min(1, have / want), Math.sqrt(sum / block.length));
        if (have >= want) resolve();
      };
      source.connect(node);
      node.connect(ctx.destination); // keeps the node pulled; it outputs silence
    });
    source.disconnect(); node.disconnect();
    const samples = new Float32Array(Math.min(have, want));
    let at = 0;
    for (const b of blocks) {
      const part = b.subarray(0, Math.min(b.length, samples.length - at));
      samples.set(part, at);
      at += part.length;
      if (at >= samples.length) break;
    }
    return encodeWav(samples, ctx.sampleRate);
  } finally {
    stopRequested = null;
    stream.getTracks().forEach((t) => t.stop());
    ctx.close();
  }
}

// Wires a button to record: first click starts, a second click stops early. Returns the Blob or null.
async function recordWith(button, meter, label) {
  if (stopRequested) { stopRequested(); return null; }
  const idle = button.textContent;
  button.classList.add("recording");
  button.textContent = "■ Stop";
  try {
    return await record(CLIP_SECONDS, (fraction, level) => {
      button.textContent = `■ Stop (${(CLIP_SECONDS * (1 - fraction)).toFixed(1)} s)`;
      meter.style.width = Math.min(100, level * 400) + "%";
    });
  } catch (e) {
    say(`Could not record ${label}: ${e.message}. Allow the microphone, or drop a file instead.`);
    return null;
  } finally {
    button.classList.remove("recording");
    button.textContent = idle;
    meter.style.width = "0";
  }
}

// ------------------------------------------------------------------ identify

function showResult(r) {
  $("id-result").hidden = false;
  const name = $("id-name");
  name.textContent = r.speaker === "unknown" ? "Unknown voice" : r.speaker;
  name.classList.toggle("unknown", r.speaker === "unknown");
  name.dataset.speaker = r.speaker;
  const pct = (x) => Math.max(0, Math.min(100, x * 100)) + "%";
  $("id-fill").style.width = pct(r.score);
  $("id-fill").classList.toggle("accepted", r.speaker !== "unknown");
  $("id-tick").style.left = pct(r.threshold);
  $("id-score").textContent = r.llr == null
    ? `similarity ${r.score.toFixed(2)} · accepted from ${r.threshold.toFixed(2)}`
    : `similarity ${r.score.toFixed(2)} · log-likelihood ratio ${r.llr.toFixed(1)} · ${r.speaker === "unknown" ? "rejected" : "accepted"} at a ${(r.far * 100).toFixed(1)} % false-accept target`;
  const top = $("id-top");
  top.replaceChildren(...r.top.map((t) => {
    const li = document.createElement("li");
    li.textContent = `${t.name}: ${t.score.toFixed(2)}`;
    return li;
  }));
}

async function identify(blob, filename) {
  say("");
  $("id-name").textContent = "Listening…";
  $("id-result").hidden = false;
  const form = new FormData();
  form.append("audio", blob, filename);
  try {
    showResult(await api("/v1/identify", { method: "POST", body: form }));
  } catch (e) {
    $("id-result").hidden = true;
    say(e.code === "no_speakers" ? "Nobody is enrolled yet: enrol a speaker below first." : e.message);
  }
}

// ------------------------------------------------------------------ enrol

function readyClips() {
  return state.clips.filter(Boolean).map((b, i) => [b, `clip${i + 1}.wav`]).concat(state.files.map((f) => [f, f.name]));
}

function updateEnrol() {
  const n = readyClips().length;
  $("en-ready").textContent = n ? `${n} clip${n > 1 ? "s" : ""} ready.` : "No clips yet.";
  const name = $("en-name").value.trim();
  $("en-submit").disabled = !(n && name) || state.busy;
  $("en-submit").textContent = name ? `Enrol ${name}` : "Enrol";
  document.querySelectorAll(".clip").forEach((b) => b.classList.toggle("done", !!state.clips[b.dataset.clip]));
}

async function enrol() {
  const name = $("en-name").value.trim();
  const form = new FormData();
  form.append("name", name);
  for (const [blob, filename] of readyClips()) form.append("audio", blob, filename);
  state.busy = true; updateEnrol(); say("");
  $("en-status").className = ""; $("en-status").textContent = `Enrolling ${name}…`;
  try {
    const r = await api("/v1/enroll", { method: "POST", body: form, headers: authHeaders() });
    $("en-status").className = "ok";
    $("en-status").textContent = `Enrolled ${r.name}: ${r.clips} clip${r.clips > 1 ? "s" : ""} in the profile.`;
    showEnrolWarnings(r.warnings || []);
    clearEnrol(false);
    await refreshSpeakers();
  } catch (e) {
    $("en-status").textContent = "";
    say(e.code === "unauthorized" ? "Enter the access token above the name to enrol." : e.message);
    if (e.code === "unauthorized") $("token-card").hidden = false;
  } finally {
    state.busy = false; updateEnrol();
  }
}

// the server's enrolment warnings (a voice already enrolled under another name, clips that disagree)
function showEnrolWarnings(warnings) {
  const box = $("en-warnings");
  box.replaceChildren(...warnings.map((w) => {
    const li = document.createElement("li");
    li.textContent = w;
    return li;
  }));
  box.hidden = warnings.length === 0;
}

function clearEnrol(clearStatus = true) {
  state.clips = [null, null, null]; state.files = [];
  $("en-files").value = "";
  if (clearStatus) $("en-status").textContent = "";
  updateEnrol();
}

// ------------------------------------------------------------------ speakers

async function refreshSpeakers() {
  const { speakers } = await api("/v1/speakers");
  const body = $("speakers").tBodies[0];
  body.replaceChildren(...speakers.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.name = s.name;
    const cells = [s.name, String(s.clips), new Date(s.enrolled).toLocaleString()];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = "Forget";
    b.setAttribute("aria-label", `Forget ${s.name}`);
    b.onclick = () => forget(s.name);
    td.append(b); tr.append(td);
    return tr;
  }));
  $("model").textContent = `${state.model} · ${speakers.length} enrolled`;
  $("speakers").hidden = speakers.length === 0;
  $("sp-empty").hidden = speakers.length > 0;
}

async function forget(name) {
  if (!confirm(`Forget ${name}? Their voice profile is deleted.`)) return;
  try {
    await api(`/v1/speakers/${encodeURIComponent(name)}`, { method: "DELETE", headers: authHeaders() });
    say("");
    await refreshSpeakers();
  } catch (e) {
    say(e.code === "unauthorized" ? "Enter the access token (in the enrol box) to forget a speaker." : e.message);
    if (e.code === "unauthorized") $("token-card").hidden = false;
  }
}

// ------------------------------------------------------------------ wiring

function dropZone(card, onFiles) {
  card.addEventListener("dragover", (e) => { e.preventDefault(); card.classList.add("dragging"); });
  card.addEventListener("dragleave", () => card.classList.remove("dragging"));
  card.addEventListener("drop", (e) => {
    e.preventDefault(); card.classList.remove("dragging");
    if (e.dataTransfer.files.length) onFiles([...e.dataTransfer.files]);
  });
}

async function start() {
  const micOk = window.isSecureContext && navigator.mediaDevices && window.AudioWorkletNode;
  if (!micOk) {
    $("mic-warning").hidden = false;
    document.querySelectorAll(".record").forEach((b) => { b.disabled = true; });
  }
  $("id-record").onclick = async () => {
    const blob = await recordWith($("id-record"), $("id-level"), "the voice");
    if (blob) await identify(blob, "recording.wav");
  };
  $("id-file").onchange = (e) => { if (e.target.files[0]) identify(e.target.files[0], e.target.files[0].name); };
  dropZone($("identify"), (files) => identify(files[0], files[0].name));

  document.querySelectorAll(".clip").forEach((b) => {
    b.onclick = async () => {
      const blob = await recordWith(b, $("en-level"), `clip ${+b.dataset.clip + 1}`);
      if (blob) { state.clips[b.dataset.clip] = blob; updateEnrol(); }
    };
  });
  $("en-files").onchange = (e) => { state.files = [...e.target.files]; updateEnrol(); };
  dropZone($("enroll"), (files) => { state.files = state.files.concat(files); updateEnrol(); });
  $("en-name").oninput = updateEnrol;
  $("en-submit").onclick = enrol;
  $("en-clear").onclick = () => clearEnrol();
  $("token").value = sessionStorage.getItem("voxprint-token") || "";
  $("token").oninput = () => sessionStorage.setItem("voxprint-token", $("token").value);

  try {
    const h = await api("/v1/health");
    state.threshold = h.threshold;
    state.model = `Model ${h.model} · ${h.sample_rate / 1000} kHz`;
    $("token-card").hidden = !h.token_required;
    await refreshSpeakers();
  } catch (e) {
    say(`The server did not answer: ${e.message}`);
  }
  updateEnrol();
  document.body.dataset.ready = "1";
}

start();
