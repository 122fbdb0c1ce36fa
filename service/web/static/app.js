// Codeerhulp: what every page shares. No library, nothing fetched from elsewhere.
"use strict";

// The remembered "hide confidences" choice, applied before the first paint (this file is in <head>).
const CONF_KEY = "codeerhulp.toonZekerheid";
if (localStorage.getItem(CONF_KEY) === "0") document.documentElement.classList.add("hide-conf");

const Codeerhulp = (() => {
  const TOKEN_KEY = "codeerhulp.token";
  let strings = null;

  // Parsed on first use: deferred page scripts run before DOMContentLoaded and need them already.
  function getStrings() {
    if (strings === null) {
      const el = document.getElementById("strings");
      strings = el ? JSON.parse(el.textContent) : {};
    }
    return strings;
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

  // Why an API call failed: `status` is the HTTP status, 0 when the server could not be reached,
  // "no_token" when this tab holds no token; `detail` is the API's own (English) message.
  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || String(status));
      this.status = status;
      this.detail = detail;
    }
  }

  // The JSON API with the Bearer token; the HttpOnly cookie only lets the server render pages.
  // By default a missing or refused token sends the tab to the sign-in page; a page that keeps
  // unsaved work and explains itself passes { signIn: false }.
  async function api(method, path, body, { signIn = true } = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      if (signIn) signInAgain();
      throw new ApiError("no_token", "no token");
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, e.message);
    }
    if (response.status === 401 && signIn) signInAgain();
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : "";
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  function initSignin() {
    const form = document.getElementById("signin-form");
    if (!form) return;
    sessionStorage.removeItem(TOKEN_KEY);  // a sign-in page means: whatever was stored is not wanted
    form.addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    });
  }

  function initSignout() {
    const form = document.getElementById("signout");
    if (form) form.addEventListener("submit", () => sessionStorage.removeItem(TOKEN_KEY));
  }

  // Admins: retrain, promote and re-suggest through the API, and follow the job's status.
  function initAdmin() {
    const status = document.getElementById("job-status");
    if (!status) return;
    const labels = JSON.parse(document.getElementById("job-statuses").textContent);

    function show(job) {
      status.dataset.job = job.id;
      status.dataset.status = job.status;
      status.innerHTML = "";
      const strong = document.createElement("strong");
      strong.textContent = getStrings().job + ": ";
      const state = document.createElement("span");
      state.className = "job-state " + job.status;
      state.textContent = labels[job.status] || job.status;
      status.append(strong, "#" + job.id + " ", state);
      if (job.message) {
        const msg = document.createElement("span");
        msg.className = "job-message";
        msg.textContent = job.message;
        status.append(" – ", msg);
      }
    }

    async function follow(id) {
      for (;;) {
        const job = await api("GET", "/api/v1/jobs/" + id);
        show(job);
        if (job.status === "succeeded" || job.status === "failed") break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      setTimeout(() => location.reload(), 1500);  // new versions and agreement values come from the server
    }

    document.getElementById("retrain").addEventListener("click", async () => {
      if (!confirm(getStrings().confirm_retrain)) return;
      try {
        const job = await api("POST", "/api/v1/models/retrain", {});
        toast(getStrings().job_started);
        show(job);
        follow(job.id);
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
    if (status.dataset.status === "queued" || status.dataset.status === "running") follow(status.dataset.job);
  }

  document.addEventListener("DOMContentLoaded", () => {
    getStrings();
    initSignin();
    initSignout();
    initAdmin();
  });

  const signedIn = () => Boolean(sessionStorage.getItem(TOKEN_KEY));

  return { api, toast, signedIn, strings: getStrings, CONF_KEY };
})();
