/**
 * The debugger page's HTML and CSS: plain, no framework, nothing loaded from elsewhere (it works
 * offline); its script is app/debugger.ts. Everything is served from Inlet itself.
 */

export const STATUSES = ["accepted", "duplicate", "rejected", "dropped", "rate-limited", "suppressed"] as const;
const TYPES = ["track", "identify", "page", "screen", "group", "alias", "batch"] as const;
const options = (values: readonly string[]) => values.map((v) => `<option value="${v}">${v}</option>`).join("");

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Inlet debugger</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/debugger/debugger.css">
  <script defer src="/debugger/debugger.js"></script>
</head>
<body>
  <header>
    <h1>Inlet debugger</h1>
    <span id="state" class="state">not connected</span>
    <form id="key-form">
      <input id="key" type="password" placeholder="Admin key (ak_…)" autocomplete="off" spellcheck="false" aria-label="Admin key">
      <button type="submit">Connect</button>
      <button type="button" id="forget">Forget key</button>
    </form>
  </header>
  <nav id="toolbar">
    <label>Status <select id="f-status"><option value="">all</option>${options(STATUSES)}</select></label>
    <label>Type <select id="f-type"><option value="">all</option>${options(TYPES)}</select></label>
    <label>User <input id="f-user" type="search" placeholder="userId or anonymousId"></label>
    <button type="button" id="pause">Pause</button>
    <span id="buffered"></span>
    <span id="count" class="muted"></span>
  </nav>
  <main>
    <div class="calls">
      <table>
        <thead><tr><th>Time</th><th>Type</th><th>Event / name</th><th>User</th><th>Status</th><th>Endpoint</th></tr></thead>
        <tbody id="rows"></tbody>
      </table>
      <p id="empty" class="muted">Paste an admin key of the tenant and connect; its calls appear here as they arrive (the last 500 first).</p>
    </div>
    <aside>
      <section>
        <h2>Rejections, last 24 h</h2>
        <ul id="reasons"><li class="muted">none</li></ul>
      </section>
      <section>
        <h2>Call</h2>
        <div id="detail" class="muted">Click a call to see it.</div>
      </section>
    </aside>
  </main>
</body>
</html>
`;

export const PAGE_CSS = `*{box-sizing:border-box}
body{margin:0;font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:12px;align-items:center;padding:10px 16px;background:#1d2330;color:#fff;flex-wrap:wrap}
h1{font-size:16px;margin:0 8px 0 0}
h2{font-size:13px;margin:0 0 6px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}
header form{display:flex;gap:6px;margin-left:auto}
input,select,button{font:inherit;padding:4px 8px;border:1px solid #c5cad3;border-radius:4px;background:#fff;color:#1d2330}
button{cursor:pointer}
#key{width:22em}
.state{padding:2px 8px;border-radius:10px;background:#5b6475;font-size:12px}
.state.live{background:#1f8a4c}.state.error{background:#b3261e}.state.paused{background:#9a6700}
nav{display:flex;gap:12px;align-items:center;padding:8px 16px;border-bottom:1px solid #dde1e7;background:#fff;flex-wrap:wrap}
main{display:grid;grid-template-columns:minmax(0,1fr) 380px;gap:12px;padding:12px 16px}
.calls{background:#fff;border:1px solid #dde1e7;border-radius:6px;overflow:auto;max-height:calc(100vh - 130px)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:260px}
th{position:sticky;top:0;background:#fafbfc;font-weight:600}
tbody tr{cursor:pointer}tbody tr:hover{background:#f1f5ff}tbody tr.selected{background:#e3ebff}
.status{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;background:#eef0f3}
.s-accepted{background:#dcf3e5;color:#14532d}.s-duplicate{background:#e8eaf0}.s-rejected{background:#fde2e1;color:#8a1c14}
.s-rate-limited{background:#fff1c2;color:#6b4e00}.s-dropped{background:#ece3f7;color:#4b2a7a}.s-suppressed{background:#e0f0f7;color:#0c4a6e}
aside section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 12px;margin-bottom:12px}
#reasons{list-style:none;margin:0;padding:0}#reasons li{display:flex;justify-content:space-between;gap:8px;padding:2px 0}
#reasons b{color:#8a1c14}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 10px;margin:0 0 8px}dt{color:#5b6475}dd{margin:0;word-break:break-all}
pre{background:#f6f7f9;border:1px solid #eef0f3;border-radius:4px;padding:8px;overflow:auto;max-height:50vh;margin:4px 0;font-size:12px;white-space:pre-wrap;word-break:break-all}
.errors{color:#8a1c14;margin:4px 0 8px;padding-left:18px}
.muted{color:#5b6475}
@media (max-width:900px){main{grid-template-columns:1fr}}
`;
