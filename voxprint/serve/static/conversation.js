// voxprint page, "Conversation" card: a recording -> POST /v1/diarize -> a timeline of coloured turns.
// Uses app.js's api(), record(), recordWith-style UI helpers and dropZone() (loaded before this file).
"use strict";

const CONVERSATION_SECONDS = 60;
const COLOURS = ["#1f6feb", "#cf222e", "#1a7f37", "#bf8700", "#8250df", "#0598bc", "#e16f24", "#6e7781"];

// One lane per speaker, in legend order: where two people talk at once both turns stay in sight
// (on one shared row the later turn covered the earlier).
function showConversation(r) {
  const colour = {}, lane = {};
  r.speakers.forEach((s, i) => { colour[s.label] = COLOURS[i % COLOURS.length]; lane[s.label] = i; });
  const lanes = Math.max(1, r.speakers.length);
  const line = $("conv-timeline");
  line.hidden = false;
  line.style.height = (1.1 * lanes + 0.2) + "rem";
  line.replaceChildren(...r.turns.map((t) => {
    const d = document.createElement("div");
    d.className = "turn";
    d.style.left = (100 * t.start / r.seconds) + "%";
    d.style.width = Math.max(0.3, 100 * (t.end - t.start) / r.seconds) + "%";
    d.style.top = (0.1 + 1.1 * lane[t.label]) + "rem";
    d.style.background = colour[t.label];
    d.dataset.label = t.label;
    d.dataset.lane = lane[t.label];
    d.title = `${t.label}: ${t.start.toFixed(1)}–${t.end.toFixed(1)} s`;
    return d;
  }));
  $("conv-legend").replaceChildren(...r.speakers.map((s) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour[s.label];
    li.append(sw, `${s.label} · ${s.seconds.toFixed(1)} s` + (s.enrolled ? ` · similarity ${s.score.toFixed(2)}` : ""));
    li.dataset.label = s.label;
    return li;
  }));
  const n = r.speakers.length;
  $("conv-status").textContent = `${n} speaker${n === 1 ? "" : "s"} in ${r.seconds.toFixed(1)} s`;
}

async function diarize(blob, filename) {
  say("");
  $("conv-status").textContent = "Listening…";
  const form = new FormData();
  form.append("audio", blob, filename);
  if ($("conv-speakers").value) form.append("speakers", $("conv-speakers").value);
  try {
    showConversation(await api("/v1/diarize", { method: "POST", body: form }));
  } catch (e) {
    $("conv-status").textContent = "";
    say(e.message);
  }
}

async function recordConversation() {
  const button = $("conv-record");
  if (stopRequested) { stopRequested(); return; }
  const idle = button.textContent;
  button.classList.add("recording");
  try {
    const blob = await record(CONVERSATION_SECONDS, (fraction, level) => {
      button.textContent = `■ Stop (${Math.round(CONVERSATION_SECONDS * (1 - fraction))} s left)`;
      $("conv-level").style.width = Math.min(100, level * 400) + "%";
    });
    if (blob) await diarize(blob, "conversation.wav");
  } catch (e) {
    say(`Could not record: ${e.message}. Allow the microphone, or drop a file instead.`);
  } finally {
    button.classList.remove("recording");
    button.textContent = idle;
    $("conv-level").style.width = "0";
  }
}

$("conv-record").onclick = recordConversation;
$("conv-file").onchange = (e) => { if (e.target.files[0]) diarize(e.target.files[0], e.target.files[0].name); };
dropZone($("conversation"), (files) => diarize(files[0], files[0].name));
