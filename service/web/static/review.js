// The segment view: show one segment at a time, decide with the keyboard, save at once via the API.
"use strict";

(() => {
  const review = document.getElementById("review");
  const segments = Array.from(document.querySelectorAll("article.segment"));
  if (!review || !segments.length) return;
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const strings = Codeerhulp.strings();
  const codebook = json("codebook");
  const mine = json("decisions");
  const decisionLabels = json("decision-labels");
  const shortcuts = json("shortcuts");
  const pickerStrings = json("picker-strings");
  const ADVANCE_KEY = "codeerhulp.doorgaan";

  // ---------------------------------------------------------------- what this tab remembers

  // Per document and coder, in this tab's sessionStorage: the segment the coder is on and the
  // decisions that could not be saved yet. Both survive a reload and a detour to the sign-in page.
  const STATE_KEY = review.dataset.positionKey;
  function readState() {
    try {
      const state = JSON.parse(sessionStorage.getItem(STATE_KEY) || "{}");
      return { segment: state.segment || null, unsaved: state.unsaved || {} };
    } catch (e) {
      return { segment: null, unsaved: {} };
    }
  }
  const state = readState();
  const saveState = () => sessionStorage.setItem(STATE_KEY, JSON.stringify(state));

  const ids = segments.map((s) => s.dataset.id);
  let index = Number(review.dataset.start) || 0;
  // The URL names the segment after a reload; without it (opened from the list) the tab's own memory does.
  if (!new URL(location.href).searchParams.has("segment") && ids.includes(String(state.segment))) {
    index = ids.indexOf(String(state.segment));
  }

  // ---------------------------------------------------------------- showing segments

  function show(i) {
    index = Math.max(0, Math.min(segments.length - 1, i));
    segments.forEach((s, n) => { s.hidden = n !== index; });
    document.getElementById("position").textContent = String(index + 1);
    const url = new URL(location.href);
    url.searchParams.set("segment", segments[index].dataset.id);
    history.replaceState(null, "", url);
    state.segment = segments[index].dataset.id;
    saveState();
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

  const decisionText = (d) => decisionLabels[d.action] + (d.codes && d.codes.length ? ": " + d.codes.map(codeText).join("; ") : "");

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

  const alertBox = document.getElementById("save-alert");
  const signinLink = document.getElementById("save-alert-signin");

  // In Dutch: why the save failed and what the coder can do about it.
  function reason(error) {
    const status = error.status;
    if (status === 401) return { text: strings.reason_401, signIn: true };
    if (error.csrf) return { text: strings.reason_csrf };
    if (status === 0) return { text: strings.reason_network };
    if (status === 403 || status === 404 || status === 413) return { text: strings["reason_" + status] };
    if (status === 409 || status === 422) return { text: strings.reason_422 + " " + (error.detail || status) };
    return { text: strings.reason_server };
  }

  function showUnsaved() {
    const pending = Object.keys(state.unsaved);
    segments.forEach((segment) => {
      const entry = state.unsaved[segment.dataset.id];
      const line = segment.querySelector(".mine .unsaved");
      line.hidden = !entry;
      line.querySelector(".unsaved-text").textContent = entry ? decisionText(entry) : "";
    });
    if (!pending.length) alertBox.hidden = true;
    return pending;
  }

  function alertFailure(error) {
    const why = reason(error);
    setAlert([strings.not_saved, why.text, strings.kept].join(" "), why.signIn);
  }

  function setAlert(text, signIn) {
    document.getElementById("save-alert-text").textContent = text;
    signinLink.hidden = !signIn;
    signinLink.href = "/aanmelden?next=" + encodeURIComponent(location.pathname + location.search);
    alertBox.hidden = false;
  }

  function showSaved(segment, saved) {
    mine[segment.dataset.id] = { action: saved.action, codes: saved.codes };
    const p = segment.querySelector(".mine .decision");
    p.dataset.action = saved.action;
    p.textContent = decisionText(saved);
    segment.dataset.decided = "1";
    delete state.unsaved[segment.dataset.id];
    saveState();
    showUnsaved();
    return updateProgress();
  }

  const bar = document.querySelector(".actions-bar");
  let saving = false;

  async function post(segment, action, codes) {
    // The run whose suggestions this page shows: "accept" stores exactly those codes, also when the
    // document was suggested again since the page was loaded.
    const body = { segment_id: Number(segment.dataset.id), action, suggestion_run: Number(segment.dataset.run) };
    if (action === "correct") body.codes = codes;
    return Codeerhulp.api("POST", "/api/v1/decisions", body, { signIn: false });
  }

  // Save first, then move on: a decision that did not reach the server never lets the view advance
  // past its segment. It stays on screen, marked as not saved, and in this tab's memory.
  async function decide(action, codes) {
    if (saving) { Codeerhulp.toast(strings.saving); return; }
    const at = index;
    const segment = segments[at];
    if (action === "accept" && !suggestedCodes(segment).length) {
      Codeerhulp.toast(strings.nothing_to_accept, "error");
      return;
    }
    saving = true;
    bar.setAttribute("aria-busy", "true");
    try {
      const saved = await post(segment, action, codes);
      const done = showSaved(segment, saved);
      Codeerhulp.toast(done === segments.length ? strings.all_done : strings.saved + ": " + decisionLabels[saved.action]);
      if (advance.checked && index === at && at < segments.length - 1) show(at + 1);
    } catch (error) {
      state.unsaved[segment.dataset.id] = { action, codes: action === "correct" ? codes : [] };
      saveState();
      showUnsaved();
      alertFailure(error);
    } finally {
      saving = false;
      bar.removeAttribute("aria-busy");
    }
  }

  // Send again what could not be saved, the segment in view first.
  async function retry() {
    if (saving) { Codeerhulp.toast(strings.saving); return; }
    const pending = Object.keys(state.unsaved).sort((a, b) => (b === ids[index]) - (a === ids[index]));
    if (!pending.length) { Codeerhulp.toast(strings.nothing_unsaved); return; }
    saving = true;
    const names = [];
    try {
      for (const id of pending) {
        const segment = segments[ids.indexOf(id)];
        if (!segment) { delete state.unsaved[id]; continue; }
        const entry = state.unsaved[id];
        const saved = await post(segment, entry.action, entry.codes);
        showSaved(segment, saved);
        names.push(decisionLabels[saved.action]);
      }
      Codeerhulp.toast(strings.retried + " " + names.join(", "));
    } catch (error) {
      alertFailure(error);
    } finally {
      saving = false;
      saveState();
    }
  }

  // ---------------------------------------------------------------- the code picker

  const picker = document.getElementById("picker");
  const search = document.getElementById("picker-search");
  const results = document.getElementById("picker-results");
  const chosenList = document.getElementById("picker-chosen");
  const pickerMessage = document.getElementById("picker-message");
  let chosen = [];
  let matches = [];
  let highlighted = 0;

  // Search ignores case and accents, so "creeren" finds "Creëren".
  const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const factors = Object.values(codebook.factors).filter((f) => f.active)
    .map((f) => ({ ...f, haystack: fold(f.label + " " + f.id + " " + f.group) }));
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => values[k]);

  // The choices a factor allows, with the codebook's words: "PO of SO", "veel (+) of weinig (-)".
  const richtingOptions = (f) => f.richting.map((r) => [r, r + " – " + (codebook.richting[r] || r)]);
  const aardOptions = (f) => ["+", "-"].map((a) => [a, a + " " + f.aard[a]]);
  const or = " " + pickerStrings.or + " ";
  const richtingChoice = (f) => f.richting.join(or);
  const aardChoice = (f) => f.aard["+"] + " (+)" + or + f.aard["-"] + " (-)";

  function renderResults() {
    const words = fold(search.value).split(/\s+/).filter(Boolean);
    matches = factors.filter((f) => words.every((w) => f.haystack.includes(w)));
    highlighted = Math.min(highlighted, Math.max(0, matches.length - 1));
    results.innerHTML = "";
    if (!matches.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = pickerStrings.no_results;
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
      meta.textContent = " " + f.group + " · " + f.id + " · " + f.aard["+"] + " / " + f.aard["-"];
      li.append(label, meta);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); add(f); });
      results.append(li);
    });
    if (matches.length) {
      search.setAttribute("aria-activedescendant", "picker-option-" + matches[highlighted].id);
      document.getElementById("picker-option-" + matches[highlighted].id).scrollIntoView({ block: "nearest" });
    }
  }

  // A select that starts on an empty "choose ..." line when nothing is chosen yet: the coder
  // picks richting and aard themselves, nothing is filled in for them.
  function select(options, value, placeholder, onChange, label) {
    const el = document.createElement("select");
    el.setAttribute("aria-label", label);
    el.classList.toggle("missing", !value);
    const empty = document.createElement("option");
    empty.value = "";
    empty.textContent = placeholder;
    empty.disabled = true;
    empty.selected = !value;
    el.append(empty);
    for (const [v, text] of options) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = text;
      o.selected = v === value;
      el.append(o);
    }
    el.addEventListener("change", () => { el.classList.remove("missing"); onChange(el.value); });
    return el;
  }

  function renderChosen() {
    chosenList.innerHTML = "";
    pickerMessage.hidden = true;
    if (!chosen.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = pickerStrings.none_chosen;
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
        li.append(select(richtingOptions(f), code.richting, fill(pickerStrings.choose_richting, { options: richtingChoice(f) }),
          (v) => { code.richting = v; }, pickerStrings.richting));
      }
      if (f) {
        li.append(select(aardOptions(f), code.aard, fill(pickerStrings.choose_aard, { options: aardChoice(f) }),
          (v) => { code.aard = v; }, pickerStrings.aard));
      }
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary small remove";
      remove.textContent = "× " + pickerStrings.remove;
      remove.addEventListener("click", () => { chosen.splice(n, 1); renderChosen(); search.focus(); });
      li.append(remove);
      chosenList.append(li);
    });
  }

  function add(f) {
    // A factor with one richting (mostly "-") has nothing to choose; otherwise the coder chooses.
    chosen.push({ factor: f.id, richting: f.richting.length === 1 ? f.richting[0] : "", aard: "" });
    search.value = "";
    highlighted = 0;
    renderResults();
    renderChosen();
    search.focus();
  }

  function openPicker() {
    const segment = segments[index];
    const own = state.unsaved[segment.dataset.id] || mine[segment.dataset.id];
    // Start from the coder's own codes (unsaved ones first), else from the model's suggestion.
    chosen = (own && own.codes.length ? own.codes : suggestedCodes(segment)).map((c) => ({ ...c }));
    search.value = "";
    highlighted = 0;
    renderResults();
    renderChosen();
    picker.showModal();
    search.focus();
  }

  function savePicker() {
    if (!chosen.length) { showPickerMessage(strings.need_a_code); return; }
    const items = Array.from(chosenList.querySelectorAll("li.chosen"));
    for (const [n, code] of chosen.entries()) {
      const f = codebook.factors[code.factor];
      if (!f) continue;
      const what = !code.richting ? "richting" : !code.aard ? "aard" : null;
      if (what) {
        showPickerMessage(fill(pickerStrings.must_choose, {
          factor: f.label, what: pickerStrings[what].toLowerCase(),
          options: what === "richting" ? richtingChoice(f) : aardChoice(f) }));
        const selects = items[n].querySelectorAll("select");
        selects[what === "richting" || selects.length === 1 ? 0 : 1].focus();
        return;
      }
    }
    picker.close();
    decide("correct", chosen);
  }

  function showPickerMessage(text) {
    pickerMessage.textContent = text;
    pickerMessage.hidden = false;
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
    // Esc closes at once, also from a search field with text (where the browser would only clear it).
    if (e.key === "Escape") { e.preventDefault(); picker.close(); }
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
  document.getElementById("save-alert-retry").addEventListener("click", retry);

  const actions = {
    accept: () => decide("accept"),
    reject: () => decide("reject"),
    no_code: () => decide("no_code"),
    correct: openPicker,
    next: () => move(1),
    previous: () => move(-1),
    retry,
    confidence: () => setConf(!conf.checked),
    help: toggleHelp,
  };
  document.querySelectorAll(".actions-bar button").forEach((b) => b.addEventListener("click", () => actions[b.dataset.act]()));

  // The key handler is built from the list the help dialog shows (catalogue: shortcuts.bindings).
  const KEYS = {};
  for (const binding of shortcuts) {
    if (!actions[binding.action]) console.error("shortcut for an unknown action", binding.action);
    for (const key of binding.keys) KEYS[key] = binding.action;
  }
  review.dataset.keys = Object.keys(KEYS).join(" ");

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (picker.open) return;  // the picker has its own keys; "?" there is text to search for
    if (help.open && KEYS[e.key] !== "help") return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (["input", "select", "textarea"].includes(tag) && e.target.type !== "checkbox") return;
    const act = KEYS[e.key];
    if (act) { e.preventDefault(); actions[act](); }
  });

  // Back after a reload or a new sign-in: say what is still waiting, and how to send it.
  const pending = showUnsaved();
  if (pending.length) {
    setAlert(fill(strings.pending, { n: pending.length }), false);
  }
  show(index);
})();
