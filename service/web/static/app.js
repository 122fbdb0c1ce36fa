// Codeerhulp: what every page shares. No library, nothing fetched from elsewhere.
"use strict";

// The remembered "hide confidences" choice, applied before the first paint (this file is in <head>).
const CONF_KEY = "codeerhulp.toonZekerheid";
if (localStorage.getItem(CONF_KEY) === "0") document.documentElement.classList.add("hide-conf");

const Codeerhulp = (() => {
  let strings = null;

  // Parsed on first use: deferred page scripts run before DOMContentLoaded and need them already.
  function getStrings() {
    if (strings === null) {
      const el = document.getElementById("strings");
      strings = el ? JSON.parse(el.textContent) : {};
    }
    return strings;
  }

  // The signed-in session's CSRF token, put in the page by the server. The session itself is an
  // HttpOnly cookie this script cannot read; the API token never reaches the browser after sign-in.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function toast(message, kind = "ok") {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.className = "show " + kind;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.className = ""; }, kind === "error" ? 6000 : 1800);
  }

  function signInAgain() {
    toast(getStrings().sign_in_again, "error");
    const next = location.pathname + location.search;
    setTimeout(() => { location.href = "/aanmelden?next=" + encodeURIComponent(next); }, 1200);
  }

  // Why an API call failed: `status` is the HTTP status, 0 when the server could not be reached;
  // `csrf` is true when the server refused the page's CSRF token (the page is older than the
  // session: reload it); `detail` is the API's own (English) message.
  class ApiError extends Error {
    constructor(status, detail, csrf = false) {
      super(detail || String(status));
      this.status = status;
      this.detail = detail;
      this.csrf = csrf;
    }
  }

  // The JSON API with the session cookie and the CSRF token. By default an ended session sends
  // the tab to the sign-in page; a page that keeps unsaved work and explains itself passes { signIn: false }.
  async function api(method, path, body, { signIn = true } = {}) {
    let response;
    try {
      response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, e.message);
    }
    if (response.status === 401 && signIn) signInAgain();
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : "";
      throw new ApiError(response.status, detail, response.headers.get("X-CSRF-Refused") === "1");
    }
    return data;
  }

  // Admins: retrain, promote and re-suggest through the API, and follow the retrain: its phase,
  // progress and time so far while it runs, then the gate's result. Everything from the job's JSON
  // (GET /api/v1/jobs/{id}); the page renders the latest job the same way at load.
  function initAdmin() {
    const status = document.getElementById("job-status");
    if (!status) return;
    const t = JSON.parse(document.getElementById("job-strings").textContent);
    const retrain = document.getElementById("retrain");
    const cancel = document.getElementById("cancel-job");
    const running = (job) => job && (job.status === "queued" || job.status === "running");

    const el = (tag, attrs = {}, ...children) => {
      const node = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      node.append(...children.filter((c) => c !== null && c !== undefined));
      return node;
    };
    const metric = (v) => (v === null || v === undefined ? "–" : v.toFixed(3).replace(".", ","));
    const duration = (seconds) => {
      const s = Math.max(0, Math.round(seconds || 0));
      return s >= 60 ? `${Math.floor(s / 60)} ${t.minutes} ${String(s % 60).padStart(2, "0")} ${t.seconds}` : `${s} ${t.seconds}`;
    };

    function gateResult(job) {
      const gate = job.result && job.result.gate;
      if (!gate) return null;
      const result = job.result;
      const table = el("table", { class: "stats", id: "gate-result" },
        el("thead", {}, el("tr", {}, el("th", {}, ""),
          el("th", { class: "num" }, `${t.model_new} (${result.version})`),
          el("th", { class: "num" }, `${t.model_active} (${result.previous_version || "–"})`))),
        el("tbody", {}, el("tr", { "data-metric": gate.metric }, el("td", {}, t.gate_metric),
          el("td", { class: "num gate-new" }, metric(gate.new_value)),
          el("td", { class: "num gate-active" }, metric(gate.active_value))),
          gate.paired ? el("tr", { "data-metric": "segment_f1" }, el("td", {}, t.gate_paired_metric),
            el("td", { class: "num gate-new" }, metric(gate.paired.new)),
            el("td", { class: "num gate-active" }, metric(gate.paired.old))) : null));
      const signed = (x) => (x >= 0 ? "+" : "") + metric(x);
      const paired = gate.paired ? el("p", { class: "paired" }, t.gate_paired_detail
        .replace("{difference}", signed(gate.paired.difference)).replace("{low}", signed(gate.paired.low))
        .replace("{high}", signed(gate.paired.high)).replace("{n}", gate.paired.n)) : null;
      const heldOut = t.held_out_detail.replace("{n}", gate.n).replace("{confirmed}", gate.n_confirmed)
        .replace("{synthetic}", gate.n_synthetic);
      return el("div", { class: "gate" }, el("h3", {}, t.result), table,
        el("p", { class: "held-out" }, el("strong", {}, t.held_out + ": "), el("span", { class: "gate-n" }, heldOut)),
        paired,
        el("p", { class: "verdict " + (result.promoted ? "promoted" : "kept") }, result.promoted ? t.promoted_yes : t.promoted_no));
    }

    function show(job) {
      retrain.disabled = running(job);
      cancel.hidden = !running(job) || job.cancel_requested;
      status.replaceChildren();
      if (!job) {
        status.append(el("p", {}, el("strong", {}, t.job + ": "), t.no_job));
        return;
      }
      status.dataset.job = job.id;
      status.dataset.status = job.status;
      status.append(el("p", {}, el("strong", {}, t.job + ": "), "#" + job.id + " ",
        el("span", { class: "job-state " + job.status }, t.statuses[job.status] || job.status)));
      if (job.status === "running") {
        const share = Math.round(100 * (job.progress || 0));
        status.append(el("p", { class: "job-phase" }, el("strong", {}, t.phase + ": "),
          el("span", { class: "phase-name" }, (job.phase && t.phases[job.phase]) || t.statuses.running)));
        status.append(el("p", { class: "job-progress" }, el("strong", {}, t.progress + ": "),
          el("progress", { max: "100", value: String(share) }), " ", el("span", { class: "percent" }, share + " %")));
      }
      if (job.elapsed_seconds !== null && job.elapsed_seconds !== undefined) {
        status.append(el("p", { class: "job-elapsed" }, el("strong", {}, (running(job) ? t.elapsed : t.took) + ": "),
          el("span", { class: "elapsed" }, duration(job.elapsed_seconds))));
      }
      if (job.message) status.append(el("p", { class: "job-message" }, job.message));
      const gate = job.status === "succeeded" ? gateResult(job) : null;
      if (gate) status.append(gate);
    }

    async function follow(id) {
      for (;;) {
        let job;
        try {
          job = await api("GET", "/api/v1/jobs/" + id);
        } catch (e) {  // a hiccup of the network or the server: try again, the job runs on regardless
          await new Promise((r) => setTimeout(r, 3000));
          continue;
        }
        show(job);
        if (!running(job)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      setTimeout(() => location.reload(), 4000);  // new versions and agreement values come from the server
    }

    retrain.addEventListener("click", async () => {
      if (!confirm(getStrings().confirm_retrain)) return;
      retrain.disabled = true;
      try {
        const job = await api("POST", "/api/v1/models/retrain", {});
        toast(getStrings().job_started);
        show(job);
        follow(job.id);
      } catch (e) {
        retrain.disabled = false;
        toast(e.status === 409 ? getStrings().already_running : getStrings().save_failed + " " + e.message, "error");
      }
    });
    cancel.addEventListener("click", async () => {
      if (!confirm(getStrings().confirm_cancel)) return;
      try {
        show(await api("POST", "/api/v1/jobs/" + status.dataset.job + "/cancel"));
      } catch (e) { toast(getStrings().save_failed + " " + e.message, "error"); }
    });
    document.querySelectorAll("button.promote").forEach((button) => button.addEventListener("click", async () => {
      if (!confirm(getStrings().confirm_promote)) return;
      try {
        await api("POST", "/api/v1/models/" + encodeURIComponent(button.dataset.version) + "/promote", {});
        location.reload();
      } catch (e) { toast(getStrings().save_failed + " " + e.message, "error"); }
    }));
    const resuggest = document.getElementById("resuggest");
    resuggest.addEventListener("click", async () => {
      resuggest.disabled = true;
      try {
        for (const id of JSON.parse(resuggest.dataset.documents)) {
          toast(getStrings().working);
          await api("POST", "/api/v1/documents/" + id + "/suggestions");
        }
        location.reload();
      } catch (e) { toast(getStrings().save_failed + " " + e.message, "error"); resuggest.disabled = false; }
    });
    const latest = JSON.parse(document.getElementById("job-data").textContent);
    show(latest);
    if (running(latest)) follow(latest.id);
  }

  // Admins on the documents page: open a document for discussion (every coder then sees every
  // decision on it) or close it again (blind once more).
  function initDiscussion() {
    for (const button of document.querySelectorAll("button.discussion-toggle")) {
      button.addEventListener("click", async () => {
        const open = button.dataset.open === "1";
        if (!confirm(getStrings()[open ? "confirm_close_discussion" : "confirm_open_discussion"])) return;
        button.disabled = true;
        try {
          await api(open ? "DELETE" : "POST", "/api/v1/documents/" + button.dataset.document + "/discussion");
          location.reload();
        } catch (e) { toast(getStrings().save_failed + " " + e.message, "error"); button.disabled = false; }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    getStrings();
    sessionStorage.removeItem("codeerhulp.token");  // where versions before sessions kept the API token
    initAdmin();
    initDiscussion();
  });

  return { api, toast, strings: getStrings, CONF_KEY };
})();
