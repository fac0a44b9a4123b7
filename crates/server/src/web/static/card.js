// The "My card" pages: start a job of the local carecert agent (change passcode, unlock,
// sponsor unlock, Update My Card), follow its server-sent events and show them. The page never
// sees a passcode: the agent asks for every passcode in its own dialog (pinentry).
"use strict";
(function () {
  const agent = document.body.dataset.agent;
  const root = document.querySelector("[data-card-page]");
  if (!root || !agent) return;
  const kind = root.dataset.cardPage;
  const $ = (id) => document.getElementById(id);
  const NO_AGENT = "The carecert agent on this computer does not answer: start it (carecert-agent run) and try again.";
  const say = (prefix, text) => { const el = $(prefix + "-status"); if (el) el.textContent = text; };
  const showError = (prefix, text) => {
    const box = $(prefix + "-error");
    if (!box) return;
    $(prefix + "-error-text").textContent = text;
    box.hidden = false;
    box.focus();
  };
  const hideError = (prefix) => { const box = $(prefix + "-error"); if (box) box.hidden = true; };

  // The agent's words for a refusal, with the page's own for the common ones.
  function explain(err) {
    switch (err.error) {
      case "cancelled": return "Cancelled in the carecert agent's window: nothing was changed.";
      case "no_card": return "No card in the reader: insert your card and try again.";
      case "busy": return "The carecert agent is busy with another card task: wait for it to finish and try again.";
      case "code_refused": return (err.message || "The code is wrong, used or expired.") + " Check the code, or send a new one.";
      default: return err.message || ("The carecert agent refused: " + (err.error || "unknown error"));
    }
  }

  /** POST a job to the agent; resolves to its id, or rejects with {error, message}. */
  async function startJob(body) {
    let r;
    try {
      r = await fetch(agent + "/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    } catch (e) {
      throw { error: "agent_unreachable", message: NO_AGENT };
    }
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw { error: j.error || "refused", message: j.message };
    return j.job;
  }

  /** Follows a job's events: handlers.step(data), .waiting(data), .done(data), .failed(data). */
  function follow(id, handlers) {
    const es = new EventSource(agent + "/v1/jobs/" + encodeURIComponent(id) + "/events");
    let over = false;
    const on = (name, fn) => es.addEventListener(name, (ev) => {
      let data = {};
      try { data = JSON.parse(ev.data); } catch (e) { /* not JSON */ }
      if (name === "done" || name === "failed") { over = true; es.close(); }
      if (fn) fn(data);
    });
    on("step", handlers.step);
    on("waiting", handlers.waiting);
    on("done", handlers.done);
    on("failed", handlers.failed);
    es.onerror = () => {
      if (over) return;
      over = true;
      es.close();
      if (handlers.failed) handlers.failed({ error: "agent_unreachable", message: "The connection to the carecert agent was lost.", unchanged: true });
    };
    return es;
  }

  /** Runs a job whose page only shows a status line, a result panel and errors. */
  function simpleJob(prefix, button, body, doneText, onDone) {
    button.addEventListener("click", async () => {
      hideError(prefix);
      $(prefix + "-done").hidden = true;
      button.disabled = true;
      say(prefix, "Follow the carecert agent's window: it asks for the passcode…");
      try {
        const id = await startJob(typeof body === "function" ? body() : body);
        follow(id, {
          done: (d) => { say(prefix, doneText); $(prefix + "-done").hidden = false; button.disabled = false; if (onDone) onDone(d); },
          failed: (e) => { say(prefix, ""); showError(prefix, explain(e)); button.disabled = false; },
        });
      } catch (e) {
        say(prefix, "");
        showError(prefix, explain(e));
        button.disabled = false;
      }
    });
  }

  if (kind === "passcode") {
    simpleJob("passcode", $("change-passcode"), { task: "change-passcode" }, "Your passcode has been changed.");
  }

  if (kind === "sponsor") {
    const list = $("sponsor-cards");
    const button = $("sponsor-unlock");
    const mine = root.dataset.sponsorCard;
    fetch(agent + "/v1/card?all=1").then((r) => r.json()).then((j) => {
      const others = (j.cards || []).filter((c) => c.serial !== mine);
      if (!others.length) { say("sponsor", "Put the locked card in the second reader, then reload this page."); return; }
      others.forEach((c, i) => {
        const item = document.createElement("div");
        item.className = "nhsuk-radios__item";
        const input = document.createElement("input");
        input.className = "nhsuk-radios__input";
        input.type = "radio"; input.name = "card"; input.value = c.serial; input.id = "card-" + i; input.checked = i === 0;
        const label = document.createElement("label");
        label.className = "nhsuk-label nhsuk-radios__label";
        label.htmlFor = input.id;
        label.textContent = c.serial + (c.label ? " (" + c.label + ")" : "");
        item.append(input, label);
        list.append(item);
      });
      button.hidden = false;
    }).catch(() => showError("sponsor", NO_AGENT));
    simpleJob("sponsor", button, () => ({
      task: "sponsor-unlock",
      card: (document.querySelector("input[name=card]:checked") || {}).value,
      sponsor_card: mine,
    }), "The card is unlocked.", (d) => { $("sponsor-done-text").textContent = "Card " + (d.serial || "") + " is unlocked with the holder's new passcode."; });
  }

  if (kind === "unlock-find") {
    // Which card is in the reader: the agent knows; go straight to the channel choice.
    fetch(agent + "/v1/card").then(async (r) => {
      const j = await r.json().catch(() => ({}));
      if (r.ok && j.serial) { location.href = "/portal/unlock?serial=" + encodeURIComponent(j.serial); return; }
      $("unlock-reader").textContent = j.error === "no_card" ? "No card in the reader: insert your card, then reload this page." : explain(j);
    }).catch(() => { $("unlock-reader").textContent = NO_AGENT + " Or type the card serial below."; });
  }

  if (kind === "unlock") {
    const form = $("unlock-form");
    const code = $("code");
    const fail = (text) => {
      $("unlock-error-text").textContent = text;
      $("unlock-error").hidden = false;
      $("code-error").textContent = text;
      $("code-error").hidden = false;
      $("code-group").classList.add("nhsuk-form-group--error");
      code.classList.add("nhsuk-input--error");
      $("unlock-error").focus();
    };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("unlock-error").hidden = true;
      $("code-error").hidden = true;
      $("code-group").classList.remove("nhsuk-form-group--error");
      code.classList.remove("nhsuk-input--error");
      const value = code.value.replace(/\s+/g, "");
      if (!/^[0-9]{8}$/.test(value)) { fail("Enter the 8-digit code we sent you"); return; }
      $("unlock-start").disabled = true;
      $("unlock-status").textContent = "Choose your new passcode in the carecert agent's window…";
      try {
        const id = await startJob({ task: "unlock", code: value });
        follow(id, {
          done: () => { $("unlock-status").textContent = "Your card is unlocked."; $("unlock-done").hidden = false; form.hidden = true; },
          failed: (e) => { $("unlock-status").textContent = ""; fail(explain(e)); $("unlock-start").disabled = false; },
        });
      } catch (e) {
        $("unlock-status").textContent = "";
        fail(explain(e));
        $("unlock-start").disabled = false;
      }
    });
  }

  if (kind === "renew") {
    const start = $("renew-start");
    const retry = $("renew-retry");
    const tags = { authentication: $("auth-state"), signing: $("sign-state") };
    const colour = { Pending: "nhsuk-tag--grey", Writing: "nhsuk-tag--blue", Done: "nhsuk-tag--green" };
    let job = null;
    const setTag = (el, state) => {
      el.textContent = state;
      el.className = "nhsuk-tag " + (colour[state] || "nhsuk-tag--grey");
    };
    async function run() {
      hideError("renew");
      $("renew-failed").hidden = true;
      $("renew-done").hidden = true;
      $("renew-next-area").hidden = true;
      Object.values(tags).forEach((t) => setTag(t, "Pending"));
      start.disabled = true;
      retry.disabled = true;
      say("renew", "Enter your passcode again in the carecert agent's window (Cancel stops the update; nothing changes)…");
      try {
        job = await startJob({ task: "renew", pause_between: true });
      } catch (e) {
        say("renew", "");
        showError("renew", explain(e));
        start.disabled = false;
        retry.disabled = false;
        return;
      }
      follow(job, {
        step: (d) => {
          if (d.step === "creating") { $("renew-progress").hidden = false; say("renew", "Creating card…"); }
          if (d.certificate && tags[d.certificate]) {
            $("renew-progress").hidden = false;
            setTag(tags[d.certificate], d.state);
            say("renew", (d.certificate === "authentication" ? "Authentication" : "Signing") + " certificate: " + d.state);
          }
        },
        waiting: (d) => {
          if (d.for === "next") { $("renew-next-area").hidden = false; $("renew-next").disabled = false; $("renew-next").focus(); }
        },
        done: (d) => {
          $("renew-next-area").hidden = true;
          say("renew", "Your certificates have been renewed.");
          $("renew-done").hidden = false;
          start.hidden = true;
          fetch("/portal/card.json").then((r) => r.json()).then((c) => {
            $("new-auth-serial").textContent = c.auth_serial || d.auth_serial || "";
            $("new-sign-serial").textContent = c.sign_serial || d.sign_serial || "";
            $("new-expiry").textContent = c.not_after || "";
            $("new-renewals-left").textContent = String(c.remote_renewals_left);
          }).catch(() => {
            $("new-auth-serial").textContent = d.auth_serial || "";
            $("new-sign-serial").textContent = d.sign_serial || "";
          });
          $("renew-done").focus && $("renew-done").focus();
        },
        failed: (e) => {
          $("renew-next-area").hidden = true;
          say("renew", "");
          if (e.error === "cancelled") {
            showError("renew", "Cancelled in the carecert agent's window: nothing was changed. Your old certificates are unchanged.");
            start.disabled = false;
            return;
          }
          const unchanged = e.unchanged !== false;
          showError("renew", "The operation was completed with errors" + (unchanged ? " — your old certificates are unchanged, try again. " : ". ") + explain(e));
          $("renew-failed").hidden = false;
          retry.disabled = false;
          start.hidden = true;
        },
      });
    }
    start.addEventListener("click", run);
    retry.addEventListener("click", run);
    $("renew-next").addEventListener("click", async () => {
      $("renew-next").disabled = true;
      try {
        await fetch(agent + "/v1/jobs/" + encodeURIComponent(job) + "/next", { method: "POST" });
        $("renew-next-area").hidden = true;
      } catch (e) {
        showError("renew", NO_AGENT);
      }
    });
  }
})();
