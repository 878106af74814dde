// bertner's page: send the text to POST /v1/ner, show the entities highlighted in it and in a table.
// The minimum-score slider hides the entities scored below it, without asking the server again.
// User text only ever reaches the page through textContent and text nodes, never through innerHTML.
"use strict";

// One colour per entity type, given in the order of the model's types (GET /v1/model), so that a type
// keeps its colour between requests.
const PALETTE = ["#8ecae6", "#ffb703", "#95d5b2", "#f4a3a8", "#cdb4db", "#f9dc5c", "#a3c4f3", "#f6bd60"];
const colours = new Map();
let modelDescribed = Promise.resolve();
// The last answer, every entity of it: the slider filters these.
let shown = null;

function colourOf(type) {
  if (!colours.has(type)) {
    colours.set(type, PALETTE[colours.size % PALETTE.length]);
  }
  return colours.get(type);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function swatch(type) {
  const box = element("span", undefined, "swatch");
  box.style.backgroundColor = colourOf(type);
  return box;
}

function setStatus(state, message) {
  const status = document.getElementById("status");
  status.dataset.state = state;
  status.textContent = message;
}

const percent = (fraction) => (fraction * 100).toFixed(2);

// What /v1/model's scores say, in a few words: test F1 of a run, the parity check of an export.
function scoreNotes(scores) {
  const notes = [];
  if (scores && scores.test && typeof scores.test.f1 === "number") notes.push(`test F1 ${percent(scores.test.f1)}`);
  const parity = scores && scores.export && scores.export.parity;
  if (parity && typeof parity.onnx_f1 === "number" && typeof parity.torch_f1 === "number") {
    const kind = scores.export.quantization || "fp32";
    notes.push(`${kind} export F1 ${percent(parity.onnx_f1)} (PyTorch ${percent(parity.torch_f1)}, ${parity.check})`);
  }
  return notes;
}

// How the entity scores are calibrated (GET /v1/model's calibration), in a few words.
function calibrationNote(calibration) {
  if (!calibration || typeof calibration.temperature !== "number") return "scores not calibrated";
  const perType = Object.entries(calibration.per_type || {}).map(([type, t]) => `${type} ${t.toPrecision(3)}`);
  return `scores calibrated, T = ${calibration.temperature.toPrecision(3)}${perType.length ? ` (${perType.join(", ")})` : ""}`;
}

function minScore() {
  return Number(document.getElementById("min-score").value);
}

// Render the last answer's entities scored at least the slider's value, and say how many are hidden.
function showEntities() {
  if (shown === null) return;
  const threshold = minScore();
  const kept = shown.entities.filter((entity) => entity.score >= threshold);
  render(shown.text, kept);
  const hidden = shown.entities.length - kept.length;
  const count = kept.length === 1 ? "1 entity" : `${kept.length} entities`;
  setStatus("done", hidden ? `${count} (${hidden} below ${threshold.toFixed(2)} hidden)` : count);
}

async function describeModel() {
  const description = document.getElementById("model");
  try {
    const response = await fetch("/v1/model");
    const model = await response.json();
    const legend = document.getElementById("legend");
    for (const type of model.types) {
      const item = element("li");
      item.dataset.type = type;
      item.append(swatch(type), document.createTextNode(type));
      legend.append(item);
    }
    const notes = [model.encoder, `${model.kind} on ${model.backend}`, ...scoreNotes(model.scores)];
    description.textContent = `${model.name} (${[...notes, calibrationNote(model.calibration)].join(", ")})`;
  } catch (error) {
    description.textContent = `The model's description did not load: ${error}`;
  }
}

// Offsets count code points (Python's str), while JavaScript strings index UTF-16 units:
// slice an array of code points so that an emoji before an entity does not shift it.
function render(text, entities) {
  const characters = Array.from(text);
  const piece = (start, end) => characters.slice(start, end).join("");
  const output = document.getElementById("output");
  const rows = document.querySelector("#entities tbody");
  output.replaceChildren();
  rows.replaceChildren();
  let at = 0;
  for (const entity of entities) {
    if (entity.start > at) output.append(document.createTextNode(piece(at, entity.start)));
    const mark = element("mark", piece(entity.start, entity.end), "entity");
    mark.dataset.type = entity.type;
    mark.dataset.score = String(entity.score);
    mark.title = `${entity.type} (score ${entity.score.toFixed(3)})`;
    mark.style.backgroundColor = colourOf(entity.type);
    output.append(mark);
    at = entity.end;

    const row = element("tr");
    const typeCell = element("td");
    const typeLabel = element("span", undefined, "type-label");
    typeLabel.append(swatch(entity.type), document.createTextNode(entity.type));
    typeCell.append(typeLabel);
    row.append(
      element("td", entity.text),
      typeCell,
      element("td", entity.score.toFixed(3)),
      element("td", `${entity.start}–${entity.end}`),
    );
    rows.append(row);
  }
  if (at < characters.length) output.append(document.createTextNode(piece(at, characters.length)));
  document.getElementById("entities").hidden = entities.length === 0;
}

function describeError(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  return `HTTP ${status}`;
}

async function findEntities() {
  const button = document.getElementById("tag");
  const text = document.getElementById("text").value;
  button.disabled = true;
  setStatus("busy", "Tagging…");
  try {
    await modelDescribed; // the types' colours first, in the model's order
    const response = await fetch("/v1/ner", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      setStatus("error", `Error: ${describeError(response.status, body)}`);
      return;
    }
    shown = { text, entities: body.entities };
    showEntities();
  } catch (error) {
    setStatus("error", `Error: ${error}`);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("tag").addEventListener("click", findEntities);
  document.getElementById("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) findEntities();
  });
  document.getElementById("min-score").addEventListener("input", (event) => {
    document.getElementById("min-score-value").textContent = Number(event.target.value).toFixed(2);
    showEntities();
  });
  modelDescribed = describeModel();
});
