
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
if (document.getElementById("welcome") || document.querySelector("form[action='/portal/role']")) {
  const es = new EventSource("/portal/events");
  es.addEventListener("ended", () => { es.close(); location.href = "/portal/logged-out?msg=ended"; });
}
