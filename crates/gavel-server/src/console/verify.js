// gavel: verifies a shared evidence bundle in this browser with WebCrypto alone: the SHA-256 of
// every file against SHA256SUMS, and the Ed25519 signature of SHA256SUMS by signing-key.pem. The
// files come from the share link; nothing is sent anywhere. The rest of the bundle's checks
// (the log's checkpoint and proofs, the recomputed statements) are `gavel evidence verify`'s.
"use strict";
(function () {
  const main = document.querySelector("main[data-share]");
  if (!main) return;
  const base = "/v1/public/share/" + encodeURIComponent(main.dataset.share) + "/files/";
  const button = document.getElementById("verify");
  const results = document.getElementById("results");
  const verdict = document.getElementById("verdict");
  document.getElementById("needs-js").hidden = true;
  button.hidden = false;

  function line(state, text) {
    const li = document.createElement("li");
    li.className = state;
    li.textContent = { ok: "ok — ", fail: "FAILED — ", note: "note — " }[state] + text;
    results.appendChild(li);
    return state !== "fail";
  }
  async function fetchBytes(path) {
    const url = base + path.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(url, { credentials: "omit", cache: "no-store" });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return new Uint8Array(await response.arrayBuffer());
  }
  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function pemToDer(pem) {
    const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  async function verify() {
    button.disabled = true;
    results.textContent = "";
    verdict.textContent = "Verifying…";
    verdict.className = "";
    let ok = true;
    try {
      const sums = await fetchBytes("SHA256SUMS");
      const text = new TextDecoder("utf-8", { fatal: true }).decode(sums);
      const entries = text.split("\n").filter((l) => l.length > 0).map((l) => {
        const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(l);
        if (!m) throw new Error("SHA256SUMS: a malformed line: " + l);
        return [m[2], m[1]];
      });
      for (const [path, want] of entries) {
        const got = hex(await crypto.subtle.digest("SHA-256", await fetchBytes(path)));
        ok = line(got === want ? "ok" : "fail",
          got === want ? path : path + ": its SHA-256 is " + got + ", SHA256SUMS says " + want) && ok;
      }
      const pem = new TextDecoder().decode(await fetchBytes("signing-key.pem"));
      const key = await crypto.subtle.importKey("spki", pemToDer(pem), { name: "Ed25519" }, false, ["verify"]);
      const signature = await fetchBytes("SHA256SUMS.sig");
      const signed = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, sums);
      ok = line(signed ? "ok" : "fail", "SHA256SUMS.sig is the Ed25519 signature of SHA256SUMS by signing-key.pem") && ok;
      const published = await fetch("/v1/public/signing-key", { credentials: "omit" })
        .then((r) => (r.ok ? r.text() : ""));
      line("note", published.trim() === pem.trim()
        ? "signing-key.pem is the export key this server publishes now (compare it with the one the organisation gave you)"
        : "signing-key.pem is not the export key this server publishes now (rotated since, or not this organisation's)");
    } catch (e) {
      ok = line("fail", String((e && e.message) || e));
    }
    verdict.textContent = ok
      ? "Verified in this browser: every file matches SHA256SUMS, and its signature verifies."
      : "NOT verified: see what failed above.";
    verdict.className = ok ? "notice" : "error";
    main.dataset.verified = ok ? "yes" : "no";
    button.disabled = false;
  }
  button.addEventListener("click", verify);
})();
