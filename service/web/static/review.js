// The segment view: show one segment at a time, decide with the keyboard, save at once via the API.
"use strict";

(() => {
  const review = document.getElementById("review");
  const segments = Array.from(document.querySelectorAll("article.segment"));
  if (!review || !segments.length) return;
  const strings = Codeerhulp.strings();
  const codebook = JSON.parse(document.getElementById("codebook").textContent);
  const mine = JSON.parse(document.getElementById("decisions").textContent);
  const decisionLabels = JSON.parse(document.getElementById("decision-labels").textContent);
  const ADVANCE_KEY = "codeerhulp.doorgaan";
  let index = Number(review.dataset.start) || 0;

  // ---------------------------------------------------------------- showing segments

  function show(i) {
    index = Math.max(0, Math.min(segments.length - 1, i));
    segments.forEach((s, n) => { s.hidden = n !== index; });
    document.getElementById("position").textContent = String(index + 1);
    // The URL names the segment, so a reload comes back to it.
    const url = new URL(location.href);
    url.searchParams.set("segment", segments[index].dataset.id);
    history.replaceState(null, "", url);
    window.scrollTo(0, 0);
  }

  function move(step) {
    const target = index + step;
    if (target < 0) { Codeerhulp.toast(strings.start); return; }
    if (target >= segments.length) { Codeerhulp.toast(strings.end); return; }
    show(target);
  }

  // ---------------------------------------------------------------- decisions

  function codeText(code) {
    const f = codebook.factors[code.factor];
    if (!f) return [code.factor, code.richting, code.aard].join(" ");
    const parts = [f.label];
    if (code.richting !== "-") parts.push(code.richting);
    parts.push(f.aard[code.aard] || code.aard);
    return parts.join(" · ");
  }

  function suggestedCodes(segment) {
    return Array.from(segment.querySelectorAll(".suggestions li")).map((li) => (
      { factor: li.dataset.factor, richting: li.dataset.richting, aard: li.dataset.aard }));
  }

  function updateProgress() {
    const done = segments.filter((s) => s.dataset.decided === "1").length;
    document.getElementById("done-count").textContent = String(done);
    document.getElementById("progress").value = done;
    return done;
  }

  // Move on at once and save in the background, so a fast coder never waits for the network; a
  // failed save brings the coder back to that segment with the reason.
  async function decide(action, codes) {
    const at = index;
    const segment = segments[at];
    const body = { segment_id: Number(segment.dataset.id), action };
    if (action === "correct") body.codes = codes;
    if (advance.checked && at < segments.length - 1) show(at + 1);
    let saved;
    try {
      saved = await Codeerhulp.api("POST", "/api/v1/decisions", body);
    } catch (e) {
      show(at);
      Codeerhulp.toast(strings.save_failed + " " + e.message, "error");
      return;
    }
    mine[segment.dataset.id] = { action: saved.action, codes: saved.codes };
    const p = segment.querySelector(".mine .decision");
    p.dataset.action = saved.action;
    p.textContent = decisionLabels[saved.action] + (saved.codes.length ? ": " + saved.codes.map(codeText).join("; ") : "");
    segment.dataset.decided = "1";
    const done = updateProgress();
    Codeerhulp.toast(done === segments.length ? strings.all_done : strings.saved + ": " + decisionLabels[saved.action]);
  }

  // ---------------------------------------------------------------- the code picker

  const picker = document.getElementById("picker");
  const search = document.getElementById("picker-search");
  const results = document.getElementById("picker-results");
  const chosenList = document.getElementById("picker-chosen");
  let chosen = [];
  let matches = [];
  let highlighted = 0;

  // Search ignores case and accents, so "creeren" finds "Creëren".
  const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const factors = Object.values(codebook.factors).filter((f) => f.active)
    .map((f) => ({ ...f, haystack: fold(f.label + " " + f.id + " " + f.group) }));

  function renderResults() {
    const words = fold(search.value).split(/\s+/).filter(Boolean);
    matches = factors.filter((f) => words.every((w) => f.haystack.includes(w)));
    highlighted = Math.min(highlighted, Math.max(0, matches.length - 1));
    results.innerHTML = "";
    if (!matches.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = picker.dataset.noResults;
      results.append(li);
    }
    matches.forEach((f, n) => {
      const li = document.createElement("li");
      li.id = "picker-option-" + f.id;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", n === highlighted ? "true" : "false");
      li.dataset.factor = f.id;
      const label = document.createElement("span");
      label.textContent = f.label;
      const meta = document.createElement("small");
      meta.className = "muted";
      meta.textContent = " " + f.group + " · " + f.id;
      li.append(label, meta);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); add(f); });
      results.append(li);
    });
    if (matches.length) {
      search.setAttribute("aria-activedescendant", "picker-option-" + matches[highlighted].id);
      document.getElementById("picker-option-" + matches[highlighted].id).scrollIntoView({ block: "nearest" });
    }
  }

  function select(options, value, onChange, label) {
    const el = document.createElement("select");
    el.setAttribute("aria-label", label);
    for (const [v, text] of options) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = text;
      o.selected = v === value;
      el.append(o);
    }
    el.addEventListener("change", () => onChange(el.value));
    return el;
  }

  function renderChosen() {
    chosenList.innerHTML = "";
    if (!chosen.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = picker.dataset.none;
      chosenList.append(li);
    }
    chosen.forEach((code, n) => {
      const f = codebook.factors[code.factor];
      const li = document.createElement("li");
      li.className = "chosen";
      li.dataset.factor = code.factor;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = f ? f.label : code.factor;
      li.append(name);
      if (f && f.richting.length > 1) {
        li.append(select(f.richting.map((r) => [r, r + " – " + (codebook.richting[r] || r)]), code.richting,
          (v) => { code.richting = v; }, picker.dataset.richting));
      }
      if (f) {
        li.append(select(Object.entries(f.aard).map(([a, text]) => [a, a + " " + text]), code.aard,
          (v) => { code.aard = v; }, picker.dataset.aard));
      }
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary small remove";
      remove.textContent = "× " + picker.dataset.remove;
      remove.addEventListener("click", () => { chosen.splice(n, 1); renderChosen(); search.focus(); });
      li.append(remove);
      chosenList.append(li);
    });
  }

  function add(f) {
    chosen.push({ factor: f.id, richting: f.richting[0], aard: "+" });
    search.value = "";
    highlighted = 0;
    renderResults();
    renderChosen();
    search.focus();
  }

  function openPicker() {
    const segment = segments[index];
    const own = mine[segment.dataset.id];
    // Start from what the coder decided before, else from the model's suggestion.
    chosen = (own && own.codes.length ? own.codes : suggestedCodes(segment)).map((c) => ({ ...c }));
    search.value = "";
    highlighted = 0;
    renderResults();
    renderChosen();
    picker.showModal();
    search.focus();
  }

  function savePicker() {
    if (!chosen.length) { Codeerhulp.toast(strings.need_a_code, "error"); return; }
    picker.close();
    decide("correct", chosen);
  }

  search.addEventListener("input", () => { highlighted = 0; renderResults(); });
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (matches.length) highlighted = (highlighted + (e.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
      renderResults();
    } else if (e.key === "Backspace" && !search.value && chosen.length) {
      e.preventDefault();  // an empty search field: Backspace takes off the last chosen code
      chosen.pop();
      renderChosen();
    } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      if (search.value.trim()) { if (matches.length) add(matches[highlighted]); } else savePicker();
    }
  });
  picker.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); savePicker(); }
  });
  document.getElementById("picker-save").addEventListener("click", savePicker);
  document.getElementById("picker-cancel").addEventListener("click", () => picker.close());

  // ---------------------------------------------------------------- toggles, help, keys

  const conf = document.getElementById("toggle-conf");
  conf.checked = !document.documentElement.classList.contains("hide-conf");
  function setConf(on) {
    conf.checked = on;
    document.documentElement.classList.toggle("hide-conf", !on);
    localStorage.setItem(Codeerhulp.CONF_KEY, on ? "1" : "0");
  }
  conf.addEventListener("change", () => setConf(conf.checked));

  const advance = document.getElementById("toggle-advance");
  advance.checked = localStorage.getItem(ADVANCE_KEY) !== "0";
  advance.addEventListener("change", () => localStorage.setItem(ADVANCE_KEY, advance.checked ? "1" : "0"));

  const help = document.getElementById("help");
  const toggleHelp = () => (help.open ? help.close() : help.showModal());
  document.getElementById("help-button").addEventListener("click", toggleHelp);

  const actions = {
    accept: () => decide("accept"),
    reject: () => decide("reject"),
    no_code: () => decide("no_code"),
    correct: openPicker,
    next: () => move(1),
    previous: () => move(-1),
  };
  document.querySelectorAll(".actions-bar button").forEach((b) => b.addEventListener("click", () => actions[b.dataset.act]()));

  const KEYS = { a: "accept", r: "reject", n: "no_code", e: "correct", j: "next", ArrowRight: "next", k: "previous", ArrowLeft: "previous" };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "?") { e.preventDefault(); toggleHelp(); return; }
    if (picker.open || help.open) return;  // the dialogs have their own keys
    const tag = (e.target.tagName || "").toLowerCase();
    if (["input", "select", "textarea"].includes(tag) && e.target.type !== "checkbox") return;
    if (e.key === "c") { setConf(!conf.checked); return; }
    const act = KEYS[e.key];
    if (act) { e.preventDefault(); actions[act](); }
  });

  show(index);
})();
