"use strict";
// The RA desk pages (/ra/desk/issue, /ra/desk/renew): hand the identity check's desk ticket to
// the desk's carecert agent (job "issue", or "ra-renew" when data-task says so) and show its
// progress from the job's server-sent events.
// The page never sees a passcode: the holder types it into the agent's own dialog.
(() => {
  const box = document.getElementById("desk-job");
  if (!box) return;
  const $ = (id) => document.getElementById(id);
  const agent = box.dataset.agent;
  const renewing = box.dataset.task === "ra-renew";
  const start = $("desk-start");
  const status = (t) => { $("desk-status").textContent = t; };
  const tag = (el, state) => {
    const colour = { Pending: "grey", Writing: "blue", Done: "green" }[state] || "grey";
    el.className = "nhsuk-tag nhsuk-tag--" + colour;
    el.textContent = state;
  };
  let finished = false;
  const fail = (message) => {
    finished = true;
    $("desk-error-text").textContent = message;
    $("desk-error").hidden = false;
    $("desk-error").focus();
    status("");
    start.disabled = false;
  };
  const done = (r) => {
    finished = true;
    if (renewing) {
      r = { card: box.dataset.card, auth: r.auth_serial || "", sign: r.sign_serial || "" };
    }
    $("result-card").textContent = r.card;
    $("result-auth").textContent = r.auth;
    $("result-sign").textContent = r.sign;
    $("result-link").href = "/ra/cards?serial=" + encodeURIComponent(r.card);
    $("desk-result").hidden = false;
    start.hidden = true;
    status("Card " + r.card + (renewing ? " renewed" : " issued") + ": both certificates are on the card.");
    $("result-link").focus();
  };
  const onEvent = (kind, d) => {
    if (kind === "step") {
      if (d.step === "creating") { $("desk-progress").hidden = false; status("Creating card"); }
      if (d.certificate) {
        $("desk-progress").hidden = false;
        const el = $("cert-" + d.certificate);
        if (el) tag(el, d.state);
        status((d.certificate === "authentication" ? "Authentication" : "Signing") + " certificate: " + d.state);
      }
    } else if (kind === "done") {
      done(d);
    } else if (kind === "failed") {
      fail(d.message || d.error || "the agent failed");
    }
  };
  // When the event stream breaks, read the job's state instead (the same events).
  const poll = async (job) => {
    for (let i = 0; i < 600 && !finished; i++) {
      try {
        const r = await fetch(agent + "/v1/jobs/" + encodeURIComponent(job));
        const j = await r.json();
        if (j.state === "done" || j.state === "failed") {
          for (const e of j.events || []) onEvent(e.event || e.kind, e.data || e);
          if (!finished) fail("the agent stopped without a result");
          return;
        }
      } catch (e) { /* the agent may be busy: try again */ }
      await new Promise((ok) => setTimeout(ok, 500));
    }
  };
  $("desk-nojs").hidden = true;
  start.disabled = false;
  start.addEventListener("click", async () => {
    start.disabled = true;
    finished = false;
    $("desk-error").hidden = true;
    for (const c of ["authentication", "signing"]) tag($("cert-" + c), "Pending");
    status(renewing
      ? "Waiting for the carecert agent: the holder types their passcode into its dialog."
      : "Waiting for the carecert agent: the holder types their first passcode into its dialog, twice.");
    let r, body;
    try {
      r = await fetch(agent + "/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(renewing ? {
          task: "ra-renew", card: box.dataset.card, documents: box.dataset.documents, desk_ticket: box.dataset.ticket,
        } : {
          task: "issue", uid: box.dataset.uid, documents: box.dataset.documents, batch: box.dataset.batch,
          label: box.dataset.label, desk_ticket: box.dataset.ticket,
        }),
      });
      body = await r.json();
    } catch (e) {
      fail("The carecert agent on this computer does not answer: start it (carecert-agent run) and try again.");
      return;
    }
    if (!r.ok) { fail(body.message || body.error || "the agent refused the job"); return; }
    const es = new EventSource(agent + "/v1/jobs/" + encodeURIComponent(body.job) + "/events");
    for (const kind of ["step", "waiting", "done", "failed"]) {
      es.addEventListener(kind, (e) => {
        let d = {};
        try { d = JSON.parse(e.data); } catch (x) { /* keep {} */ }
        if (kind === "done" || kind === "failed") es.close();
        onEvent(kind, d);
      });
    }
    es.onerror = () => { if (!finished) { es.close(); poll(body.job); } };
  });
})();
