
"use strict";
const agent = document.body.dataset.agent || (document.getElementById("agent") || {dataset: {}}).dataset.agent;
const button = document.getElementById("smartcard-login");
if (button) {
  button.addEventListener("click", async () => {
    const err = document.getElementById("card-error");
    err.textContent = "Enter your passcode in the carecert agent…";
    try {
      const r = await fetch(agent + "/v1/ticket", { method: "POST" });
      const body = await r.json();
      // The page says why in its own words: the URL carries only the refusal's code.
      if (!r.ok) { location.href = "/portal/refused?msg=" + encodeURIComponent(body.error || "refused"); return; }
      document.getElementById("ticket").value = body.ticket;
      document.getElementById("card-login").submit();
    } catch (e) {
      err.textContent = "The carecert agent on this computer does not answer: start it (carecert-agent run) and try again.";
    }
  });
}
if (document.getElementById("welcome") || document.getElementById("logout") || document.querySelector("form[action='/portal/role']")) {
  const es = new EventSource("/portal/events");
  es.addEventListener("ended", () => { es.close(); location.href = "/portal/logged-out?msg=ended"; });
}
// A card-bound session (the card's TLS client certificate, or a ticket from the agent): hand its
// presence token to the local agent, which then reports the card present and its removal, so
// the session ends when the card is pulled. Without an agent watching, the server ends a
// certificate session after its first-report grace (see ARCHITECTURE.md, "Card-bound sessions").
const presence = document.getElementById("presence");
if (presence && agent) {
  const status = document.getElementById("watch-status");
  const watch = async (tries) => {
    try {
      const r = await fetch(agent + "/v1/jobs", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ task: "watch", presence_token: presence.dataset.token }),
      });
      if (r.status === 409 && tries > 0) { setTimeout(() => watch(tries - 1), 1000); return; }
      if (status) status.textContent = "";
    } catch (e) {
      if (status) status.textContent = "The carecert agent on this computer does not answer: without it watching your card, this session ends shortly. Start it (carecert-agent run).";
    }
  };
  watch(30);
}
// The "My card" pages' own script.
if (document.querySelector("[data-card-page]")) {
  const s = document.createElement("script");
  s.src = "/portal/card.js";
  document.head.appendChild(s);
}
