// mapper web: forms built from the server's schemas (the CLI's option table), runs as cards with
// live progress (Server-Sent Events), downloads and a picture of the result. No libraries.
"use strict";
const TOKEN = document.querySelector('meta[name="mapper-token"]').content;
const api = (path, options = {}) => fetch(path, {...options, headers: {...(options.headers || {}), "X-Mapper-Token": TOKEN}});
const withToken = (path) => `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(TOKEN)}`;
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
};
const UPLOADABLE = {audio: "audio/*", beatmap: ".osu", target: ".osu", reference: ".osu"};
let SCHEMA = null;

// ---- forms ----
function fieldInput(f) {
  const id = `f-${f.form}-${f.name}`;
  if (f.choices && f.kind === "list") {
    return el("div", {class: "checks", id}, ...f.choices.map(c => el("label", {},
      el("input", {type: "checkbox", name: f.name, value: c}), ` ${c}`)));
  }
  if (f.choices) {
    return el("select", {name: f.name, id}, el("option", {value: "", text: "(default)"}),
      ...f.choices.map(c => el("option", {value: c, text: c})));
  }
  if (f.kind === "flag") return el("input", {type: "checkbox", name: f.name, id});
  if (f.kind === "switch") {
    return el("select", {name: f.name, id}, el("option", {value: "", text: "(default)"}),
      el("option", {value: "on", text: "on"}), el("option", {value: "off", text: "off"}));
  }
  const attrs = {name: f.name, id, type: "text", placeholder: f.default !== null && f.default !== undefined ? String(f.default) : ""};
  if (f.kind === "int" || f.kind === "float") {
    attrs.type = "number"; attrs.step = f.kind === "int" ? "1" : "any";
    if (f.range && f.range.low !== undefined && f.range.low !== null) attrs.min = f.range.low;
    if (f.range && f.range.high !== undefined && f.range.high !== null) attrs.max = f.range.high;
  }
  if (f.kind === "list") attrs.placeholder = "comma-separated";
  const input = el("input", attrs);
  if (f.kind !== "path" || !UPLOADABLE[f.name]) return input;
  const picker = el("input", {type: "file", accept: UPLOADABLE[f.name], hidden: "", "data-upload-for": f.name});
  picker.addEventListener("change", async () => {
    const file = picker.files[0]; if (!file) return;
    setError(f.form, f.name, `uploading ${file.name}...`);
    const response = await api(`/api/upload?name=${encodeURIComponent(file.name)}`, {method: "POST", body: file});
    const body = await response.json();
    if (!response.ok) { setError(f.form, f.name, body.error || "upload failed"); return; }
    input.value = body.path; setError(f.form, f.name, "");
    input.dispatchEvent(new Event("change", {bubbles: true}));
  });
  return el("div", {class: "pathrow"}, input, picker,
    el("button", {type: "button", text: "Upload...", onclick: () => picker.click()}));
}

function fieldRow(f) {
  const help = [f.help, f.range && f.range.low !== undefined ? `range ${f.range.low} to ${f.range.high ?? "∞"}` : null,
                f.range && f.range.rule ? f.range.rule : null, f.modes ? `for ${f.modes.join(", ")}` : null].filter(Boolean).join(" · ");
  const label = el("label", {for: `f-${f.form}-${f.name}`, title: help, text: f.flag || f.name.toUpperCase()});
  const row = el("div", {class: "field", "data-name": f.name, "data-modes": f.modes ? f.modes.join(",") : null},
    label, fieldInput(f), el("span", {class: "error"}));
  return row;
}

function buildForm(kind) {
  const form = document.getElementById(`form-${kind}`);
  const schema = SCHEMA[kind];
  const fields = (schema.fields || []).filter(f => !f.server).map(f => ({...f, form: kind}));
  if (kind === "generate") {
    for (const group of schema.groups) {
      const inGroup = fields.filter(f => f.group === group);
      if (!inGroup.length) continue;
      const set = el("fieldset", {class: ["Song", "Model", "Map style"].includes(group) ? "" : "closed"},
        el("legend", {text: group, onclick: (e) => e.target.parentElement.classList.toggle("closed")}));
      inGroup.forEach(f => set.append(fieldRow(f)));
      form.append(set);
    }
  } else {
    form.append(el("p", {class: "hint", text: schema.help}));
    const set = el("fieldset", {}, el("legend", {text: `mapper ${kind}`}));
    fields.forEach(f => set.append(fieldRow(f)));
    form.append(set);
  }
  form.append(el("code", {class: "cmd", id: `cmd-${kind}`}));
  const actions = el("div", {class: "actions"},
    el("button", {type: "submit", class: "primary", id: `start-${kind}`, text: kind === "generate" ? "Generate" : `Run ${kind}`}),
    el("button", {type: "button", text: "Save settings", onclick: () => saveSettings(kind)}),
    el("button", {type: "button", text: "Load settings", onclick: () => document.getElementById(`load-${kind}`).click()}),
    el("input", {type: "file", id: `load-${kind}`, accept: ".json", hidden: "", onchange: (e) => loadSettings(kind, e.target)}));
  form.append(actions);
  form.addEventListener("submit", (e) => { e.preventDefault(); startRun(kind); });
  form.addEventListener("change", () => { if (kind === "generate") applyMode(); scheduleCheck(kind); });
  form.addEventListener("input", () => scheduleCheck(kind));
  if (kind === "generate") applyMode();
  scheduleCheck(kind);
}

function formValues(kind) {
  const form = document.getElementById(`form-${kind}`), values = {};
  for (const row of form.querySelectorAll(".field")) {
    if (row.hidden) continue;
    const name = row.dataset.name;
    const boxes = row.querySelectorAll('.checks input[type=checkbox]');
    if (boxes.length) { values[name] = [...boxes].filter(b => b.checked).map(b => b.value); continue; }
    const input = row.querySelector("input:not([type=file]), select");
    if (input.type === "checkbox") values[name] = input.checked;
    else if (input.value !== "") values[name] = input.value;
  }
  return values;
}

function setValues(kind, values) {
  const form = document.getElementById(`form-${kind}`);
  for (const row of form.querySelectorAll(".field")) {
    const value = values[row.dataset.name];
    const boxes = row.querySelectorAll('.checks input[type=checkbox]');
    if (boxes.length) { boxes.forEach(b => b.checked = Array.isArray(value) && value.includes(b.value)); continue; }
    const input = row.querySelector("input:not([type=file]), select");
    if (input.type === "checkbox") input.checked = value === true; else input.value = value ?? "";
  }
  if (kind === "generate") applyMode();
  scheduleCheck(kind);
}

function applyMode() {  // mode-specific fields only for their mode; the eval tab once a reference is given
  const form = document.getElementById("form-generate");
  const mode = form.querySelector('[name="gamemode"]').value || "osu";
  for (const row of form.querySelectorAll(".field[data-modes]")) row.hidden = !row.dataset.modes.split(",").includes(mode);
  const reference = form.querySelector('[name="beatmap"]').value;
  document.getElementById("eval-tab").hidden = !reference;
}

function setError(kind, name, message) {
  const row = document.querySelector(`#form-${kind} .field[data-name="${name}"]`);
  if (!row) return;
  row.querySelector(".error").textContent = message || "";
  row.classList.toggle("bad", Boolean(message));
}

function showErrors(kind, errors) {
  document.querySelectorAll(`#form-${kind} .field`).forEach(row => setError(kind, row.dataset.name, ""));
  for (const [name, message] of Object.entries(errors || {})) setError(kind, name, message);
}

const timers = {};
function scheduleCheck(kind) { clearTimeout(timers[kind]); timers[kind] = setTimeout(() => checkForm(kind), 250); }
async function checkForm(kind) {
  const response = await api("/api/check", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify({kind, values: formValues(kind)})});
  const body = await response.json();
  document.getElementById(`cmd-${kind}`).textContent = body.command;
  showErrors(kind, body.errors);
  return body;
}

function saveSettings(kind) {  // a download made in the page: nothing is written on the server
  const blob = new Blob([JSON.stringify({kind, values: formValues(kind)}, null, 2)], {type: "application/json"});
  const link = el("a", {href: URL.createObjectURL(blob), download: `mapper-${kind}-settings.json`});
  document.body.append(link); link.click(); link.remove();
}
async function loadSettings(kind, input) {
  const file = input.files[0]; if (!file) return;
  try { const data = JSON.parse(await file.text()); setValues(kind, data.values || data); }
  catch (e) { alert(`not a settings file: ${e.message}`); }
  input.value = "";
}

// ---- runs ----
async function startRun(kind) {
  const response = await api("/api/runs", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify({kind, values: formValues(kind)})});
  const body = await response.json();
  if (response.status === 422) { showErrors(kind, body.errors); return; }
  showErrors(kind, {});
  addCard(body);
}

function addCard(run) {
  document.getElementById("no-runs").hidden = true;
  const card = el("div", {class: "card", id: `run-${run.id}`, "data-status": run.status},
    el("div", {class: "head"}, el("span", {class: `status ${run.status}`, text: run.status}),
       el("button", {type: "button", class: "cancel", text: "Cancel", onclick: () => api(`/api/runs/${run.id}/cancel`, {method: "POST"})})),
    el("code", {class: "cmd", text: run.command}),
    el("div", {class: "bars"}),
    el("details", {}, el("summary", {text: "Log"}), el("pre", {class: "log"})),
    el("div", {class: "files"}), el("div", {class: "preview"}));
  document.getElementById("runs").insertBefore(card, document.getElementById("no-runs").nextSibling);
  const source = new EventSource(withToken(`/api/runs/${run.id}/events`));
  source.onmessage = (message) => onEvent(run, card, JSON.parse(message.data));
  source.addEventListener("end", () => source.close());
}

function onEvent(run, card, event) {
  if (event.type === "log") {
    const log = card.querySelector(".log"); log.textContent += event.line + "\n"; log.scrollTop = log.scrollHeight;
  } else if (event.type === "progress") {
    let bar = card.querySelector(`.bar[data-pass="${CSS.escape(event.pass)}"]`);
    if (!bar) {
      bar = el("div", {class: "bar", "data-pass": event.pass}, el("span", {text: event.pass}),
               el("progress", {max: event.total, value: 0}), el("span", {class: "count"}));
      card.querySelector(".bars").append(bar);
    }
    const progress = bar.querySelector("progress"); progress.max = event.total; progress.value = event.done;
    const rate = event.tokens_per_s !== null && event.tokens_per_s !== undefined ? ` · ${Math.round(event.tokens_per_s)} tok/s` : "";
    bar.querySelector(".count").textContent = `${event.done}/${event.total}${rate}`;
  } else if (event.type === "status") {
    card.dataset.status = event.status;
    const status = card.querySelector(".status"); status.textContent = event.status; status.className = `status ${event.status}`;
    if (["done", "failed", "cancelled"].includes(event.status)) {
      card.querySelector(".cancel").remove();
      if (event.summary) finish(card, event.summary);
    }
  }
}

function finish(card, summary) {
  const files = card.querySelector(".files");
  for (const file of summary.files) {
    files.append(el("a", {href: withToken(`/api/runs/${summary.id}/files/${file.index}`), download: file.name,
                          class: file.name.endsWith(".osz") ? "osz" : "osu", text: `⬇ ${file.name}`}));
  }
  if (summary.folder) {
    files.append(el("span", {class: "hint", text: ` folder: ${summary.folder} `}),
      el("button", {type: "button", text: "Open folder", onclick: () => api(`/api/runs/${summary.id}/open-folder`, {method: "POST"})}));
  }
  if (summary.files.some(f => f.name.endsWith(".osu"))) drawPreview(card.querySelector(".preview"), summary);
}

// ---- the picture of a result ----
async function drawPreview(box, summary) {
  const response = await api(`/api/runs/${summary.id}/picture?file=0`);
  if (!response.ok) return;
  const picture = await response.json();
  const timeline = el("canvas", {class: "timeline", width: 1200, height: picture.reference ? 360 : 240});
  const field = el("canvas", {class: "playfield", width: 512, height: 384});
  const audio = summary.has_audio ? el("audio", {controls: "", preload: "auto", src: withToken(`/api/runs/${summary.id}/audio`)}) : null;
  box.append(el("div", {class: "row"}, el("div", {}, timeline, audio), field));
  if (picture.eval) box.append(evalTable(picture.eval));
  const duration = Math.max(picture.audio ? picture.audio.duration_ms : 0,
    ...picture.map.objects.map(o => o.end), ...(picture.reference ? picture.reference.objects.map(o => o.end) : []), 1000);
  const draw = () => {
    const now = audio ? audio.currentTime * 1000 : 0;
    drawTimeline(timeline, picture, duration, now);
    drawField(field, picture.map, now, picture.reference);
    box.dataset.drawn = "yes";
    if (audio && !audio.paused) requestAnimationFrame(draw);
  };
  if (audio) { audio.addEventListener("play", draw); audio.addEventListener("seeked", draw); audio.addEventListener("timeupdate", draw); }
  timeline.addEventListener("click", (e) => {
    if (!audio) return;
    const rect = timeline.getBoundingClientRect();
    audio.currentTime = (e.clientX - rect.left) / rect.width * duration / 1000; draw();
  });
  draw();
}

function drawTimeline(canvas, picture, duration, now) {
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const x = (t) => t / duration * w;
  g.fillStyle = "#0e1014"; g.fillRect(0, 0, w, h);
  const lanes = picture.reference ? [[picture.map, 0, h / 2], [picture.reference, h / 2, h / 2]] : [[picture.map, 0, h]];
  if (picture.audio) {  // the song's loudness, once across the whole height
    g.fillStyle = "#4a5573";
    const values = picture.audio.values, frame = picture.audio.frame_ms;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] * h * 0.9; g.fillRect(x(i * frame), (h - v) / 2, Math.max(1, x(frame)), v);
    }
  }
  for (const [map, top, height] of lanes) {
    g.fillStyle = "rgba(255,184,77,0.12)";
    for (const [a, b] of map.kiai) g.fillRect(x(a), top, x((b ?? duration) - a), height);
    g.strokeStyle = "#ff4d4d"; g.lineWidth = 2;
    for (const line of map.red_lines) { g.beginPath(); g.moveTo(x(line.t), top); g.lineTo(x(line.t), top + height); g.stroke(); }
    const rows = map.keys || 1;
    for (const o of map.objects) {
      const row = map.keys ? o.column : 0, y = top + 8 + (height - 16) * (rows === 1 ? 0.5 : row / (rows - 1));
      g.fillStyle = o.kind === "slider" ? "#66c2ff" : o.kind === "spinner" ? "#b48cff" : o.kind === "hold" ? "#5cd68a" : "#ff66aa";
      if (o.end > o.t) g.fillRect(x(o.t), y - 2, Math.max(2, x(o.end - o.t)), 4);
      g.beginPath(); g.arc(x(o.t), y, 3, 0, 2 * Math.PI); g.fill();
    }
    g.fillStyle = "#9aa1b2"; g.font = "12px sans-serif"; g.fillText(map === picture.map ? "generated" : "reference", 4, top + 12);
  }
  g.strokeStyle = "#ffffff"; g.lineWidth = 1; g.beginPath(); g.moveTo(x(now), 0); g.lineTo(x(now), h); g.stroke();
}

function drawField(canvas, map, now, reference) {  // osu!/catch: the playfield around now; mania: the columns
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  g.fillStyle = "#0e1014"; g.fillRect(0, 0, w, h);
  if (reference && reference.mode === map.mode && map.mode !== "mania" && map.mode !== "taiko") {
    for (const o of reference.objects) {  // the reference's objects, as outlines behind the generated ones
      if (o.end < now - 100 || o.t > now + 900) continue;
      g.strokeStyle = "rgba(154,161,178,0.6)"; g.lineWidth = 2;
      g.beginPath(); g.arc(o.x, o.y, 18, 0, 2 * Math.PI); g.stroke();
    }
  }
  if (map.mode === "mania" || map.mode === "taiko") {
    const keys = map.keys || 1, cw = w / keys, span = 1500;
    g.strokeStyle = "#323744";
    for (let k = 1; k < keys; k++) { g.beginPath(); g.moveTo(k * cw, 0); g.lineTo(k * cw, h); g.stroke(); }
    for (const o of map.objects) {
      if (o.end < now || o.t > now + span) continue;
      const y0 = h - (o.t - now) / span * h, y1 = h - (o.end - now) / span * h, c = map.keys ? o.column : 0;
      g.fillStyle = o.kind === "hold" ? "#5cd68a" : "#ff66aa";
      g.fillRect(c * cw + 4, Math.min(y0, y1) - 6, cw - 8, Math.max(12, Math.abs(y0 - y1)));
    }
    return;
  }
  for (const o of map.objects) {
    if (o.end < now - 100 || o.t > now + 900) continue;
    const alpha = o.t > now ? 1 - (o.t - now) / 900 : 1;
    g.globalAlpha = Math.max(0.15, alpha);
    if (o.curve) {
      g.strokeStyle = "#66c2ff"; g.lineWidth = 20; g.lineCap = "round"; g.beginPath();
      o.curve.forEach(([px, py], i) => i ? g.lineTo(px, py) : g.moveTo(px, py)); g.stroke();
    }
    g.fillStyle = o.kind === "spinner" ? "#b48cff" : "#ff66aa";
    g.beginPath(); g.arc(o.kind === "spinner" ? 256 : o.x, o.kind === "spinner" ? 192 : o.y, o.kind === "spinner" ? 60 : 18, 0, 2 * Math.PI); g.fill();
  }
  g.globalAlpha = 1;
}

function evalTable(report) {
  const rows = [];
  const walk = (prefix, value) => {
    if (value && typeof value === "object" && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    else if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") rows.push([prefix, value]);
  };
  walk("", report.comparison || report);
  return el("table", {class: "eval"}, el("tr", {}, el("th", {text: "mapper eval"}), el("th", {text: "value"})),
    ...rows.slice(0, 40).map(([k, v]) => el("tr", {}, el("td", {text: k}), el("td", {text: typeof v === "number" ? String(Math.round(v * 1000) / 1000) : String(v)}))));
}

// ---- tabs ----
document.querySelectorAll("#tabs button").forEach(button => button.addEventListener("click", () => {
  document.querySelectorAll("#tabs button").forEach(b => b.classList.toggle("active", b === button));
  document.querySelectorAll(".tab-form").forEach(f => f.hidden = f.dataset.kind !== button.dataset.tab);
  if (button.dataset.tab === "eval") {  // prefilled from the generate form's reference
    const reference = document.querySelector('#form-generate [name="beatmap"]').value;
    const input = document.querySelector('#form-eval [name="reference"]');
    if (input && !input.value) input.value = reference;
  }
}));

(async () => {
  SCHEMA = await (await api("/api/schema")).json();
  for (const kind of ["generate", "timing", "mod", "eval"]) buildForm(kind);
  document.body.dataset.ready = "yes";
})();
