// The cameras page: a tile per camera (latest snapshot, reader state, age), and the
// chosen camera's picture with zones, region plan and the debug overlay in SVG.
// Everything comes from the console's memory: switching to a camera that is down or
// silent shows its last picture, its age and its state at once. The time from the
// click to the state shown is kept in #view[data-shown-ms].
"use strict";

const Cams = {
  list: new Map(),      // id -> summary from /api/cameras
  selected: null,
  detail: null,         // /api/cameras/{id} of the selected camera
  preset: "",           // "" = the camera's current preset
  clickAt: null,        // performance.now() of the last click on a tile
};

const { $, enc, t, term } = LO;
const DOWN_AFTER_S = 3;
const STATIC_CLASS = "static_object";  // the scene model's synthetic class (docs/RULES.md)

function snapUrl(c, preset) {
  if (preset) return `/api/cameras/${enc(c.id)}/snapshot.jpg?preset=${enc(preset)}`;
  return `/api/cameras/${enc(c.id)}/snapshot.jpg?seq=${c.snapshot.seq}`;
}

function isDown(c) {
  const age = c.snapshot ? c.snapshot.age_s : null;
  return c.state !== "streaming" || age == null || age > DOWN_AFTER_S;
}

// The reader's state in the page's language (common.po state.*).
function stateText(c) {
  if (c.state === "streaming" && c.snapshot && c.snapshot.age_s > DOWN_AFTER_S) {
    return t("cameras.silent", { state: term("state", c.state) });
  }
  return term("state", c.state);
}

// One name/value pair of the facts list; `data` marks a value that is data (an id, a
// config value: the same in every language, docs/I18N.md).
function fact(dl, name, value, id, data) {
  LO.fact(dl, name, value, id);
  if (data) dl.lastElementChild.setAttribute("translate", "no");
}

function renderTiles(cams) {
  const box = $("tiles");
  const seen = new Set();
  for (const c of cams) {
    seen.add(c.id);
    let tile = box.querySelector(`[data-camera="${CSS.escape(c.id)}"]`);
    if (!tile) {
      tile = LO.el("button", { class: "tile", type: "button", "data-camera": c.id },
        LO.el("img", { class: "thumb", alt: c.id, translate: false }),
        LO.el("span", { class: "name", text: c.id, translate: false }),
        LO.el("span", { class: "state" }),
        LO.el("span", { class: "age" }),
        LO.el("span", { class: "quality" }));
      tile.addEventListener("click", () => select(c.id));
      box.append(tile);
    }
    const img = tile.querySelector(".thumb");
    if (c.snapshot && tile.dataset.seq !== String(c.snapshot.seq)) {
      img.src = snapUrl(c);
      tile.dataset.seq = String(c.snapshot.seq);
      tile.dataset.capturedAt = c.snapshot.captured_at;
    }
    const st = tile.querySelector(".state");
    st.textContent = stateText(c);
    st.className = `state state-${c.state}`;
    tile.querySelector(".age").textContent = c.snapshot ? LO.age(c.snapshot.age_s) : t("cameras.no_picture");
    const issues = qualityIssues(c.quality).map((i) => term("issue", i.kind));
    tile.querySelector(".quality").textContent = issues.join(t("cameras.list_sep"));
    tile.classList.toggle("down", isDown(c));
    tile.classList.toggle("selected", c.id === Cams.selected);
  }
  for (const tile of [...box.children]) {
    if (!seen.has(tile.dataset.camera)) tile.remove();
  }
}

function renderFacts(d) {
  const dl = $("facts");
  dl.replaceChildren();
  fact(dl, t("cameras.fact.camera"), d.id, "fact-camera", true);
  fact(dl, t("cameras.fact.state"), stateText(d), "fact-state");
  fact(dl, t("cameras.fact.picture_age"), d.snapshot ? LO.age(d.snapshot.age_s) : t("cameras.no_picture_yet"), "fact-age");
  fact(dl, t("cameras.fact.captured"), d.snapshot ? LO.when(d.snapshot.captured_at) : "–", "fact-captured");
  fact(dl, t("cameras.fact.preset"), d.preset || "–", "", true);
  fact(dl, t("cameras.fact.analysed"), t("cameras.fps", { fps: d.fps.toFixed(2), target: d.analysis_fps }), "fact-fps");
  fact(dl, t("cameras.fact.reconnects_drops"), `${d.reconnects} / ${d.dropped}`);
  // The reader's own error text (an exception's message) is a detail for engineers.
  fact(dl, t("cameras.fact.last_error"), d.last_error || "–", "fact-error", true);
  fact(dl, t("cameras.fact.last_case"), caseText(d.last_case), "fact-case");
  fact(dl, t("cameras.fact.quality"), qualityText(d.quality), "fact-quality");
  fact(dl, t("cameras.fact.source"), d.source || "–", "fact-source", true);
}

function caseText(c) {
  if (!c) return t("cameras.case_none");
  const text = t("cameras.case", {
    type: term("type", c.type), zone: c.zone_id, at: LO.when(c.confirmed_at), dwell: LO.age(c.dwell_s),
  });
  return c.count != null ? t("cameras.case_count", { case: text, count: c.count }) : text;
}

// The video quality diagnosis (frozen, blur, occlusion, drift) of the current preset.
function qualityIssues(q) {
  if (q == null || typeof q !== "object" || !q.issues) return [];
  return Object.values(q.issues).filter((i) => i && i.active);
}

function qualityText(q) {
  if (q == null) return t("cameras.quality.not_measured");
  if (typeof q !== "object") return String(q);
  if (q.enabled === false) return t("cameras.quality.off");
  const active = qualityIssues(q);
  if (active.length) {
    return active.map((i) => t("cameras.quality.issue", {
      issue: term("issue", i.kind), since: i.since ? LO.when(i.since) : "?",
      measure: fmtMeasure(i.measure), threshold: i.threshold,
    })).join(t("cameras.clause_sep"));
  }
  return t(q.learning ? "cameras.quality.learning" : "cameras.quality.ok");
}

function fmtMeasure(m) {
  return typeof m === "number" ? m.toFixed(2) : String(m);
}

function renderBadge(d) {
  const badge = $("view-badge");
  if (!isDown(d)) { badge.hidden = true; return; }
  badge.hidden = false;
  const age = d.snapshot ? t("cameras.last_picture", { age: LO.age(d.snapshot.age_s) }) : t("cameras.no_picture_yet");
  badge.textContent = `${stateText(d).toUpperCase()} · ${age}`;
}

function drawOverlay(d) {
  const svg = $("view-overlay");
  svg.replaceChildren();
  const ov = d.overlay;
  const w = ov ? ov.width : d.snapshot ? d.snapshot.width : 0;
  const h = ov ? ov.height : d.snapshot ? d.snapshot.height : 0;
  if (!w || !h) return;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const preset = Cams.preset || d.preset || null;
  const sw = Math.max(0.6, w / 900);  // stroke and text scale in frame pixels
  if ($("show-zones").checked) {
    for (const z of d.zones || []) {
      if (z.preset && z.preset !== preset) continue;
      const pts = z.polygon.map((p) => p.join(",")).join(" ");
      svg.append(LO.svg("polygon", { points: pts, class: "zone", "stroke-width": sw * 1.5 }));
      const [x, y] = z.polygon[0];
      svg.append(LO.svg("text", { x, y: y - 4 * sw, class: "zone-label", "font-size": 12 * sw, text: `${z.id} · ${z.policies.map((p) => term("type", p)).join(t("cameras.list_sep"))}` }));
    }
  }
  const live = !Cams.preset || Cams.preset === d.preset;
  if (ov && live && $("show-plan").checked && ov.plan) {
    for (const [x, y, cw, ch, still] of ov.plan.crops) {
      svg.append(LO.svg("rect", { x, y, width: cw, height: ch, class: still ? "crop still" : "crop moving", "stroke-width": sw }));
    }
  }
  if (ov && live && $("show-debug").checked) {
    for (const [x, y, mw, mh] of ov.motion) {
      svg.append(LO.svg("rect", { x, y, width: mw, height: mh, class: "motion", "stroke-width": sw }));
    }
    for (const det of ov.detections) {
      const [x1, y1, x2, y2] = det.box;
      // What the scene model finds staying (no class name of the model's) is drawn
      // apart from the detector's boxes: dashed, in its own colour (docs/CONSOLE.md).
      const kind = det.label === STATIC_CLASS ? " static" : "";
      svg.append(LO.svg("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: (det.track >= 0 ? "det tracked" : "det") + kind, "stroke-width": sw * 1.5 }));
      const id = det.track >= 0 ? `#${det.track} ` : "";
      // The model's class names are data (docs/I18N.md).
      svg.append(LO.svg("text", { x: x1, y: y1 - 3 * sw, class: `det-label${kind}`, "font-size": 11 * sw, translate: "no", text: `${id}${det.label} ${det.confidence}` }));
    }
  }
}

function renderPresets(d) {
  const sel = $("preset-select");
  const want = ["", ...d.presets];
  const have = [...sel.options].map((o) => o.value);
  if (want.join("|") !== have.join("|")) {
    sel.replaceChildren(...want.map((p) => LO.el("option", p ? { value: p, text: p, translate: false } : { value: p, text: t("cameras.preset_current") })));
    sel.value = want.includes(Cams.preset) ? Cams.preset : "";
  }
  sel.disabled = d.presets.length < 2;
}

// Show a camera's detail; when the server's answer (`fresh`) and its picture are
// shown, note the time since the click.
function renderDetail(d, fresh) {
  Cams.detail = d;
  const view = $("view");
  $("view-empty").hidden = true;
  renderFacts(d);
  renderBadge(d);
  renderPresets(d);
  view.dataset.camera = d.id;
  view.dataset.state = d.state;
  const img = $("view-img");
  const done = () => {
    drawOverlay(d);
    if (fresh && Cams.clickAt != null && view.dataset.camera === d.id) {
      view.dataset.shownMs = String(Math.round(performance.now() - Cams.clickAt));
      view.dataset.shownCamera = d.id;
      view.dataset.shownState = d.state;
      Cams.clickAt = null;
    }
  };
  if (!d.snapshot) { img.removeAttribute("src"); done(); return; }
  const url = new URL(snapUrl(d, Cams.preset), location.href).href;
  if (img.src === url && img.complete) { done(); return; }
  img.onload = done;
  img.onerror = done;
  img.src = url;
}

async function select(id) {
  Cams.clickAt = performance.now();
  Cams.selected = id;
  Cams.preset = "";
  const view = $("view");
  view.dataset.camera = id;
  view.dataset.shownCamera = "";
  for (const tl of document.querySelectorAll(".tile")) tl.classList.toggle("selected", tl.dataset.camera === id);
  // From the last list at once (memory of the page), then the server's detail.
  const known = Cams.list.get(id);
  if (known) renderDetail({ ...known, zones: [], overlay: null }, false);
  await refreshDetail();
}

async function refreshDetail() {
  const id = Cams.selected;
  if (!id) return;
  try {
    const d = await LO.getJSON(`/api/cameras/${enc(id)}`);
    if (Cams.selected === id) renderDetail(d, true);
  } catch (e) { /* the next poll tries again */ }
}

async function poll() {
  try {
    const data = await LO.getJSON("/api/cameras");
    Cams.list = new Map(data.cameras.map((c) => [c.id, c]));
    renderTiles(data.cameras);
    if (!Cams.selected && data.cameras.length) await select(data.cameras[0].id);
    else await refreshDetail();
  } catch (e) { /* keep polling */ }
  setTimeout(poll, 1000);
}

async function takeSnapshot() {
  const out = $("action-result");
  if (!Cams.selected) return;
  const r = await LO.post(`/api/cameras/${enc(Cams.selected)}/snapshot`);
  out.textContent = r.status === 200 ? t("cameras.saved", { path: r.data.saved }) : t("cameras.refused", { error: r.data.error || r.status });
  out.dataset.status = String(r.status);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["show-zones", "show-plan", "show-debug"]) {
    $(id).addEventListener("change", () => Cams.detail && drawOverlay(Cams.detail));
  }
  $("preset-select").addEventListener("change", (e) => {
    Cams.preset = e.target.value;
    if (Cams.detail) renderDetail(Cams.detail, false);
  });
  $("take-snapshot").addEventListener("click", takeSnapshot);
  poll();
});
