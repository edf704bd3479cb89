// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons (redirect URI, new API key) appear only where the clipboard API exists.
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    if (!input || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch (_) {
        input.select();
        button.textContent = "Press Ctrl+C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }

  // Times: the server writes UTC; show the viewer's local time with its zone, keep the
  // UTC text as a tooltip, and add a relative hint ("in 54 minutes") where it helps.
  const relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" })
    : null;
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  const describe = (date) => {
    if (!relative) return "";
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    if (Math.abs(seconds) < 60) return relative.format(0, "minute");
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
    }
    return "";
  };
  // Times the server wrote only as text ("2026-11-27 05:12 UTC") get their datetime here.
  for (const t of document.querySelectorAll("time:not([datetime])")) {
    const m = t.textContent.trim().match(/^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC$/);
    if (m) t.setAttribute("datetime", m[1] + "T" + m[2] + ":00Z");
  }
  const times = [];
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) continue;
    t.title = t.textContent.trim();
    // dateStyle/timeStyle cannot be combined with timeZoneName, so name the parts.
    t.textContent = d.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    // Relative hints only within a week: further away, the date says more.
    if (Math.abs(d.getTime() - Date.now()) < 7 * 86400 * 1000) {
      const hint = document.createElement("span");
      hint.className = "relative";
      hint.textContent = " (" + describe(d) + ")";
      t.after(hint);
      times.push([d, hint]);
    }
  }
  if (times.length) {
    setInterval(() => {
      for (const [d, hint] of times) hint.textContent = " (" + describe(d) + ")";
    }, 30000);
  }

  // While an import runs, the account page refreshes itself every few seconds, unless
  // the administrator has started typing into the form.
  if (document.querySelector("[data-running]")) {
    let typing = false;
    document.addEventListener("input", () => { typing = true; });
    setTimeout(function refresh() {
      if (typing) return;
      if (document.visibilityState === "visible") location.reload();
      else setTimeout(refresh, 3000);
    }, 3000);
  }
});
