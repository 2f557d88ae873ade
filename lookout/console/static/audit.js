// The audit log page (admins only; docs/ACCOUNTS.md "Audit log"): who did what, when
// and from where, newest first, filtered by dates, person and action, a page of rows
// at a time (older / newer). Every row is data the server recorded: it is written as
// text (LO.el), never as markup, and marked translate="no"; only the role and the
// action are words of the catalogue (audit.po, common.po: docs/I18N.md).
"use strict";

const { $, t, term } = LO;
// Rows per page.
const PAGE = 50;
const Audit = { filters: new URLSearchParams(), offset: 0 };

function filters() {
  const q = new URLSearchParams();
  for (const [key, id] of [["from", "f-from"], ["to", "f-to"], ["who", "f-who"], ["action", "f-action"]]) {
    const v = $(id).value.trim();
    if (v) q.set(key, v);
  }
  return q;
}

// A detail object as "key=value, key=value": strings as they are, anything else as JSON.
function detailText(detail) {
  if (!detail || typeof detail !== "object") return "";
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
}

// One cell of data: its text as recorded, never translated.
function data(text, cls) {
  return LO.el("td", { text: text || "–", translate: false, class: cls || "" });
}

function row(e) {
  const tr = LO.el("tr", { class: "audit-row", "data-seq": String(e.seq), "data-action": e.action });
  tr.append(
    data(LO.when(e.at), "at"),
    data(e.who, "by"),
    LO.el("td", { class: "role", text: e.role ? term("role", e.role) : "–" }),
    data(e.address, "address"),
    LO.el("td", { class: "action", text: term("audit.action", e.action) }),
    data(e.target, "target"),
    data(detailText(e.detail), "detail"),
  );
  return tr;
}

async function load() {
  const q = new URLSearchParams(Audit.filters);
  q.set("limit", String(PAGE));
  q.set("offset", String(Audit.offset));
  const note = $("audit-note");
  try {
    const d = await LO.getJSON(`/api/audit?${q}`);
    const entries = d.entries || [];
    $("audit-table").querySelector("tbody").replaceChildren(...entries.map(row));
    if (!d.kept) note.textContent = t("audit.not_kept");
    else if (!entries.length) note.textContent = t("audit.none");
    else note.textContent = t("audit.range", { first: Audit.offset + 1, last: Audit.offset + entries.length });
    $("page-newer").disabled = Audit.offset === 0;
    $("page-older").disabled = entries.length < PAGE;
    document.body.dataset.loaded = "1";
    document.body.dataset.offset = String(Audit.offset);
  } catch (e) {
    note.textContent = t("audit.load_failed", { error: (e.data && e.data.error) || e.message });
    document.body.dataset.loaded = "error";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    Audit.filters = filters();
    Audit.offset = 0;
    load();
  });
  $("page-older").addEventListener("click", () => { Audit.offset += PAGE; load(); });
  $("page-newer").addEventListener("click", () => { Audit.offset = Math.max(0, Audit.offset - PAGE); load(); });
  load();
});
