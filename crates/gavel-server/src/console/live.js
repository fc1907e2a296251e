// gavel console: live updates without a framework. A page that opts in (`data-live` on <main>)
// asks the server every few seconds for a version of what it shows; when that changes it reloads,
// unless the person is in the middle of typing, in which case it offers a reload instead.
"use strict";
(function () {
  const main = document.querySelector("main[data-live]");
  if (!main) return;
  const url = "/console/live/" + encodeURIComponent(main.dataset.live);
  const notice = document.getElementById("live-notice");
  let seen = main.dataset.version;
  function typing() {
    return Array.from(document.querySelectorAll("textarea, input[type=text]"))
      .some((el) => el.value.trim() !== "" || el === document.activeElement);
  }
  async function check() {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) return;
      const { version } = await response.json();
      if (version === seen) return;
      if (!typing()) {
        window.location.reload();
        return;
      }
      seen = version;
      notice.hidden = false;
    } catch (_) {
      // The server is away for a moment: try again at the next tick.
    }
  }
  document.getElementById("live-reload").addEventListener("click", () => window.location.reload());
  setInterval(check, 3000);
})();
