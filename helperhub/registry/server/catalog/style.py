"""The catalog pages' inline stylesheet and scripts: small, no fonts or files to fetch (the index
runs on air-gapped clusters), a fluid layout for phones and a dark scheme by
``prefers-color-scheme``. The pages work without the scripts; they only add filter-as-you-type and
copy buttons."""

from __future__ import annotations

STYLE = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--card:#f6f8fa;
--link:#0550ae;--warn-bg:#fff1e5;--warn-fg:#9a3412}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;
--card:#161b22;--link:#4493f8;--warn-bg:#3d1d00;--warn-fg:#ffb77c}}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0 auto;max-width:60rem;padding:1rem;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--link)}
code,pre,.readme .literal{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875em}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.75rem;overflow-x:auto;margin:0}
h1{font-size:1.75rem;margin:.5rem 0}
h2{font-size:1.15rem;margin:0}
section>h2{margin:2rem 0 .5rem}
.lead,.muted,.meta{color:var(--muted)}
.lead{margin-top:0}
.meta{font-size:.875rem;margin:.25rem 0 0}
.version{font-weight:400;color:var(--muted);font-size:.9em}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:0 .5em;border-radius:1em;vertical-align:middle}
.yanked{background:var(--warn-bg);color:var(--warn-fg);border:1px solid currentColor}
.yank-reason{color:var(--warn-fg)}
.filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:1rem 0 .5rem}
.filter input{flex:1 1 12rem;min-width:0;padding:.5rem;font:inherit;color:inherit;background:var(--bg);
border:1px solid var(--line);border-radius:6px}
button{font:inherit;padding:.35rem .8rem;border:1px solid var(--line);border-radius:6px;background:var(--card);
color:inherit;cursor:pointer}
.count{color:var(--muted);font-size:.875rem}
.helpers{list-style:none;padding:0;margin:0}
.helper{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;margin:.75rem 0;background:var(--card)}
.summary{margin:.25rem 0 0}
.hash,td,.requires code{overflow-wrap:anywhere}
details{margin:2rem 0}
summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
.snippet h3{display:flex;justify-content:space-between;align-items:center;font-size:.9rem;margin:1rem 0 .25rem;
color:var(--muted)}
.snippet button{font-size:.8rem;padding:.1rem .6rem}
.release{border-top:1px solid var(--line);padding:.5rem 0}
.release h3{margin:.25rem 0}
.release h3 a{color:inherit;text-decoration:none}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.35rem 1rem;margin:.5rem 0}
.facts dt{color:var(--muted);font-size:.875rem}
.facts dd{margin:0}
.files,.requires,.images{list-style:none;padding:0;margin:0}
.images .target{font-weight:600;margin-right:.4em}
.readme{border:1px solid var(--line);border-radius:8px;padding:0 1rem}
@media (max-width:600px){.facts{grid-template-columns:minmax(0,1fr)}.facts dd{margin-bottom:.35rem}}
.readme{overflow-wrap:break-word}
.readme table{margin:1rem 0}
.readme img{max-width:100%}
footer{margin-top:2rem;border-top:1px solid var(--line);color:var(--muted);font-size:.875rem}
[hidden]{display:none!important}
"""

# Filters the listed helpers as one types, with the server's matching rule (catalog_model.matches);
# a page served without the server's filtering (a static copy) still honours ?q=.
CATALOG_SCRIPT = """
(() => {
  const input = document.getElementById("q");
  const items = [...document.querySelectorAll("#helpers > li")];
  const count = document.getElementById("count");
  const empty = document.getElementById("empty");
  const initial = count.innerHTML;
  const fold = (s) => s.toLowerCase().replace(/[-_.]+/g, "-");
  const apply = () => {
    const terms = fold(input.value).split(/\\s+/).filter(Boolean);
    let shown = 0;
    for (const li of items) {
      const hit = terms.every((t) => li.dataset.search.includes(t));
      li.hidden = !hit;
      if (hit) shown += 1;
    }
    empty.hidden = shown > 0;
    if (terms.length) count.textContent = `${shown} of ${count.dataset.total} helpers match`;
    else count.innerHTML = initial;
  };
  input.addEventListener("input", apply);
  if (!input.value) {
    input.value = new URLSearchParams(location.search).get("q") || "";
    if (input.value) apply();
  }
})();
"""

# A copy button per snippet; the clipboard API needs a secure context, which a plain-http index in a
# cluster is not, so it falls back to selecting the text and the copy command.
COPY_SCRIPT = """
for (const box of document.querySelectorAll(".snippet")) {
  const code = box.querySelector("code");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Copy";
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  box.querySelector("h3").append(button);
}
"""
