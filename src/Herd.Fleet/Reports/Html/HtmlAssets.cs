namespace Herd.Fleet.Reports;

/// <summary>
/// The HTML report's stylesheet, page skeleton and chart script: Herd's own code, inlined into every report so the file
/// works offline (issue #12: no CDN). Every drawn data mark carries the class <c>mark</c>, so the Chromium test can count
/// them; <c>body[data-ready]</c> is set once everything is drawn.
/// </summary>
internal static class HtmlAssets
{
    public const string Css = """
        :root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--panel:#fff}
        *{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
        header{padding:16px 24px 8px}h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:0 0 8px}h2 small{color:var(--muted);font-weight:normal}
        #run-meta{color:var(--muted);margin:0 0 12px}main{padding:0 24px 24px}
        .cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:110px}
        .card b{display:block;font-size:18px}.card span{color:var(--muted);font-size:12px}.card.bad b{color:#cf222e}
        .panel{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:12px;margin:12px 0}
        .row{display:grid;grid-template-columns:1fr 1fr;gap:12px}.row.three{grid-template-columns:1fr 1fr 1fr}.row .panel{margin:0}.row{margin:12px 0}
        @media (max-width:900px){.row,.row.three{grid-template-columns:1fr}}
        svg{width:100%;height:auto;display:block}.axis text,.label{font-size:11px;fill:var(--muted)}.label{fill:var(--fg);font-size:12px}.axis line,.axis path{stroke:var(--line)}
        .mark.retry{stroke:#1f2328;stroke-width:.8;stroke-dasharray:2 1}.pause{fill:url(#hatch);opacity:.6}
        .ceiling{stroke:#cf222e;stroke-dasharray:6 4;fill:none}.spend,.concurrency{fill:none;stroke-width:2}.spend{stroke:#0969da}.concurrency{stroke:#8250df}
        .legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;color:var(--muted);margin-bottom:6px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px;border-radius:2px}
        .controls{display:flex;gap:8px;align-items:center;margin-bottom:8px}.controls input{flex:1;max-width:420px;padding:5px 8px;border:1px solid var(--line);border-radius:6px}
        .controls select{padding:5px;border:1px solid var(--line);border-radius:6px}#table-count{color:var(--muted)}
        .table-wrap{max-height:640px;overflow:auto;border:1px solid var(--line);border-radius:6px}
        table{border-collapse:collapse;width:100%;font-size:12.5px}th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{position:sticky;top:0;background:var(--bg);cursor:pointer;user-select:none;white-space:nowrap}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
        td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.result{max-width:420px;white-space:pre-wrap;word-break:break-word}td.path{font-family:ui-monospace,monospace;font-size:11px;word-break:break-all;max-width:260px}
        .cls{display:inline-block;padding:0 6px;border-radius:10px;color:#fff;font-size:11.5px;white-space:nowrap}.err{color:#cf222e}
        .sev{font-weight:600}footer{color:var(--muted);font-size:12px;padding:0 24px 24px}
        """;

    public const string Body = """
        <header><h1>Herd run <span id="run-id"></span></h1><p id="run-meta"></p><div id="cards" class="cards"></div></header>
        <main>
        <section class="panel"><h2>Timeline <small>one row per slot; dashed outline = retry; hatched band = fleet pause</small></h2><div class="legend" id="legend"></div><div id="timeline"></div></section>
        <div class="row">
        <section class="panel"><h2>Cumulative spend <small>against the ceiling</small></h2><div id="spend"></div></section>
        <section class="panel"><h2>Concurrency <small>attempts running</small></h2><div id="concurrency"></div></section>
        </div>
        <div class="row three">
        <section class="panel"><h2>Outcomes</h2><div id="outcomes"></div></section>
        <section class="panel"><h2>Cost per task</h2><div id="cost"></div></section>
        <section class="panel"><h2>Duration per task</h2><div id="duration"></div></section>
        </div>
        <section class="panel" id="findings-panel" hidden><h2>Findings by severity</h2><div id="findings"></div><div class="table-wrap" style="max-height:320px"><table id="findings-table"><thead><tr><th>Severity</th><th>Location</th><th>Finding</th><th>Task</th></tr></thead><tbody></tbody></table></div></section>
        <section class="panel"><h2>Tasks</h2><div class="controls"><input id="filter" type="search" placeholder="Filter by name, class, result, error, shard…" aria-label="Filter tasks"><select id="class-filter" aria-label="Outcome class"><option value="">all classes</option></select><span id="table-count"></span></div>
        <div class="table-wrap"><table id="tasks"><thead><tr></tr></thead><tbody></tbody></table></div></section>
        </main>
        <footer>Generated by herd. Self-contained: no network needed to view it. Full records: results.ndjson in the run directory.</footer>

        """;

    public const string Script = """
        (function () {
        "use strict";
        var D = JSON.parse(document.getElementById("herd-data").textContent);
        var T = D.tasks, A = D.attempts, NS = "http://www.w3.org/2000/svg";
        // Charts are drawn at their container's width, one SVG unit per CSS pixel, so text keeps its size on any screen.
        function width(id) { return Math.max(320, document.getElementById(id).clientWidth || 960); }
        var COLORS = { success: "#2da44e", success_degraded: "#7ee787", rate_limited: "#f0883e", overloaded: "#d29922", usage_window: "#bf8700",
          cancelled: "#8c959f", interrupted: "#afb8c1", running: "#54aeff", run_budget: "#6e7781", timeout: "#a40e26", hang: "#8250df", network: "#e16f24", server_error: "#bc4c00" };
        var SEV = ["blocker", "critical", "major", "minor", "info"], SEVC = { blocker: "#82071e", critical: "#cf222e", major: "#bc4c00", minor: "#d4a72c", info: "#0969da" };
        function color(c) { return COLORS[c] || "#cf222e"; }
        function s(tag, attrs, parent) { var e = document.createElementNS(NS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
        function h(tag, attrs, parent, text) { var e = document.createElement(tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; if (parent) parent.appendChild(e); return e; }
        function tip(e, text) { s("title", {}, e).textContent = text; return e; }
        function usd(v) { return "$" + (v >= 100 ? v.toFixed(2) : v >= 1 ? v.toFixed(3) : v.toFixed(4)); }
        function dur(x) { return x < 60 ? x.toFixed(1) + " s" : x < 3600 ? Math.floor(x / 60) + " m " + Math.round(x % 60) + " s" : Math.floor(x / 3600) + " h " + Math.floor(x % 3600 / 60) + " m"; }
        function num(n) { return n.toLocaleString("en-US"); }
        function pct(arr, p) { if (!arr.length) return 0; var a = arr.slice().sort(function (x, y) { return x - y; }); return a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]; }
        function nice(v) { if (v <= 0) return 1; var e = Math.pow(10, Math.floor(Math.log10(v))), f = v / e; return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e; }

        // A chart frame: margins, axes with a few ticks, and scale functions. Axes are not marks.
        function frame(id, height, xmax, ymax, xfmt, yfmt) {
          var W = width(id), m = { l: 56, r: 12, t: 8, b: 22 }, svg = s("svg", { viewBox: "0 0 " + W + " " + height, role: "img", "data-chart": id }, document.getElementById(id));
          var pw = W - m.l - m.r, ph = height - m.t - m.b, g = s("g", { "class": "axis" }, svg);
          var x = function (v) { return m.l + (xmax > 0 ? v / xmax : 0) * pw; }, y = function (v) { return m.t + ph - (ymax > 0 ? v / ymax : 0) * ph; };
          s("line", { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph }, g);
          for (var i = 0; i <= 4; i++) {
            var xv = xmax * i / 4; s("text", { x: x(xv), y: height - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, g).textContent = xfmt(xv);
            if (yfmt) { var yv = ymax * i / 4; s("line", { x1: m.l, x2: m.l + pw, y1: y(yv), y2: y(yv), opacity: .5 }, g); s("text", { x: m.l - 6, y: y(yv) + 4, "text-anchor": "end" }, g).textContent = yfmt(yv); }
          }
          return { svg: svg, x: x, y: y, m: m, pw: pw, ph: ph, h: height };
        }

        var span = 0; A.forEach(function (a) { span = Math.max(span, a[4]); }); T.forEach(function (t) { span = Math.max(span, t[3] + t[4]); });
        span = span || 1;

        function header() {
          document.getElementById("run-id").textContent = D.run.id;
          var failed = T.filter(function (t) { return t[2] !== "success" && t[2] !== "success_degraded" && t[2] !== "cancelled"; }).length;
          document.getElementById("run-meta").textContent = D.run.status + (D.run.exit !== undefined ? " (exit " + D.run.exit + ")" : "") + " · started " + D.run.start + " · " + D.run.dir;
          var cost = 0, retries = 0; T.forEach(function (t) { cost += t[5]; retries += t[6]; });
          var runtimes = T.map(function (t) { return t[4]; });
          var cards = [["Tasks", num(D.run.planned)], ["Succeeded", num(T.length - failed - T.filter(function (t) { return t[2] === "cancelled"; }).length)], ["Failed", num(failed), failed > 0],
            ["Unfinished", num(D.run.unfinished), D.run.unfinished > 0], ["Cost", usd(cost) + (D.run.ceiling !== undefined ? " / " + usd(D.run.ceiling) : "")],
            ["Wall time", dur(D.run.wall)], ["p50 / p90 task", dur(pct(runtimes, .5)) + " / " + dur(pct(runtimes, .9))], ["Retries", num(retries)]];
          if (D.findings.length) cards.push(["Findings", num(D.findings.length), true]);
          var box = document.getElementById("cards");
          cards.forEach(function (c) { var d = h("div", { "class": "card" + (c[2] ? " bad" : "") }, box); h("b", {}, d, c[1]); h("span", {}, d, c[0]); });
        }

        function timeline() {
          // Rows are the scheduler's slots; attempts recorded without a slot get the first free lane.
          var lanes = [], slotOf = A.map(function (a) { return a[2]; });
          if (slotOf.some(function (x) { return x < 0; })) {
            A.map(function (a, i) { return i; }).sort(function (i, j) { return A[i][3] - A[j][3]; }).forEach(function (i) {
              if (slotOf[i] >= 0) return; var l = 0; while (l < lanes.length && lanes[l] > A[i][3]) l++; lanes[l] = A[i][4]; slotOf[i] = l; });
          }
          var rows = 1; slotOf.forEach(function (x) { rows = Math.max(rows, x + 1); });
          var rowH = Math.max(3, Math.min(18, 420 / rows)), f = frame("timeline", Math.ceil(rows * rowH) + 34, span, 0, dur);
          var defs = s("defs", {}, f.svg), pat = s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
          s("rect", { width: 3, height: 6, fill: "#bf8700" }, pat);
          D.pauses.forEach(function (p) { tip(s("rect", { "class": "pause", x: f.x(p[0]), y: f.m.t, width: Math.max(1, f.x(p[1]) - f.x(p[0])), height: rows * rowH }, f.svg), "fleet pause: " + p[2] + " (" + dur(p[1] - p[0]) + ")"); });
          var seen = {};
          A.forEach(function (a, i) {
            seen[a[5]] = true;
            var r = s("rect", { "class": "mark" + (a[1] > 1 ? " retry" : ""), x: f.x(a[3]), y: f.m.t + slotOf[i] * rowH + (rowH > 6 ? 1 : 0), width: Math.max(0.6, f.x(a[4]) - f.x(a[3])), height: Math.max(1, rowH - (rowH > 6 ? 2 : 0.5)), fill: color(a[5]) }, f.svg);
            tip(r, T[a[0]][1] + " · attempt " + a[1] + " · " + a[5] + " · " + dur(a[4] - a[3]) + " · " + usd(a[6]));
          });
          var lg = document.getElementById("legend");
          Object.keys(seen).sort().forEach(function (c) { var sp = h("span", {}, lg); h("i", { style: "background:" + color(c) }, sp); sp.appendChild(document.createTextNode(c)); });
          if (D.pauses.length) { var sp = h("span", {}, lg); h("i", { style: "background:#bf8700" }, sp); sp.appendChild(document.createTextNode("pause (" + D.pauses.length + ")")); }
        }

        function spend() {
          var ends = A.map(function (a) { return [a[4], a[6]]; }).sort(function (p, q) { return p[0] - q[0]; }), total = 0;
          ends.forEach(function (e) { total += e[1]; });
          var top = nice(Math.max(total, D.run.ceiling || 0) * 1.05), f = frame("spend", 220, span, top, dur, usd), d = "M" + f.x(0) + "," + f.y(0), run = 0;
          ends.forEach(function (e) { run += e[1]; d += "H" + f.x(e[0]).toFixed(1) + "V" + f.y(run).toFixed(1); });
          d += "H" + f.x(span);
          tip(s("path", { "class": "mark spend", d: d }, f.svg), "spent " + usd(total));
          if (D.run.ceiling !== undefined) {
            tip(s("line", { "class": "mark ceiling", x1: f.x(0), x2: f.x(span), y1: f.y(D.run.ceiling), y2: f.y(D.run.ceiling) }, f.svg), "ceiling " + usd(D.run.ceiling));
            s("text", { "class": "label", x: f.x(span) - 4, y: f.y(D.run.ceiling) - 4, "text-anchor": "end" }, f.svg).textContent = "ceiling " + usd(D.run.ceiling);
          }
        }

        function concurrency() {
          // A zero-length attempt (refused at once) never ran: leaving it out lets ends sort before starts at equal
          // times, so the line neither dips below zero nor spikes above the real peak.
          var ev = []; A.forEach(function (a) { if (a[4] > a[3]) { ev.push([a[3], 1]); ev.push([a[4], -1]); } });
          ev.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1]; });
          var cur = 0, peak = 0; ev.forEach(function (e) { cur += e[1]; peak = Math.max(peak, cur); });
          var f = frame("concurrency", 220, span, nice(peak || 1), dur, function (v) { return Math.round(v * 10) / 10 + ""; }), d = "M" + f.x(0) + "," + f.y(0);
          cur = 0; ev.forEach(function (e) { cur += e[1]; d += "H" + f.x(e[0]).toFixed(1) + "V" + f.y(cur).toFixed(1); });
          tip(s("path", { "class": "mark concurrency", d: d }, f.svg), "peak " + peak + " running");
        }

        function bars(id, items) {
          // Horizontal bars: [label, value, color, tooltip]
          var rowH = 22, height = Math.max(1, items.length) * rowH + 26, max = 1;
          items.forEach(function (it) { max = Math.max(max, it[1]); });
          var W = width(id), svg = s("svg", { viewBox: "0 0 " + W + " " + height, role: "img", "data-chart": id }, document.getElementById(id)), lw = Math.min(160, W * 0.35), pw = W - lw - 60;
          items.forEach(function (it, i) {
            s("text", { "class": "label", x: lw - 8, y: i * rowH + 15, "text-anchor": "end", }, svg).textContent = it[0];
            tip(s("rect", { "class": "mark", x: lw, y: i * rowH + 3, width: Math.max(it[1] > 0 ? 2 : 0, pw * it[1] / max), height: rowH - 6, fill: it[2] }, svg), it[3]);
            s("text", { "class": "label", x: lw + pw * it[1] / max + 6, y: i * rowH + 15 }, svg).textContent = num(it[1]);
          });
        }

        function outcomes() {
          var counts = {}; T.forEach(function (t) { counts[t[2]] = (counts[t[2]] || 0) + 1; });
          bars("outcomes", Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); }).map(function (c) { return [c, counts[c], color(c), c + ": " + counts[c] + " tasks"]; }));
        }

        function histogram(id, values, fmt, fill) {
          var bins = 20, max = 0; values.forEach(function (v) { max = Math.max(max, v); }); max = max || 1;
          var counts = []; for (var i = 0; i < bins; i++) counts.push(0);
          values.forEach(function (v) { counts[Math.min(bins - 1, Math.floor(v / max * bins))]++; });
          var top = 1; counts.forEach(function (c) { top = Math.max(top, c); });
          var f = frame(id, 220, max, nice(top), fmt, function (v) { return Math.round(v * 10) / 10 + ""; }), bw = f.pw / bins;
          counts.forEach(function (c, i) {
            tip(s("rect", { "class": "mark", x: f.m.l + i * bw + 1, y: f.y(c), width: Math.max(1, bw - 2), height: f.y(0) - f.y(c), fill: fill }, f.svg),
              fmt(max * i / bins) + " – " + fmt(max * (i + 1) / bins) + ": " + c + " tasks");
          });
        }

        function findings() {
          if (!D.findings.length) return;
          document.getElementById("findings-panel").hidden = false;
          var counts = {}; D.findings.forEach(function (f) { counts[f[0]] = (counts[f[0]] || 0) + 1; });
          bars("findings", SEV.map(function (v) { return [v, counts[v] || 0, SEVC[v], v + ": " + (counts[v] || 0) + " findings"]; }));
          var body = document.querySelector("#findings-table tbody");
          D.findings.slice(0, 200).forEach(function (f) {
            var tr = h("tr", {}, body); h("td", { "class": "sev", style: "color:" + SEVC[f[0]] }, tr, f[0]);
            h("td", { "class": "path" }, tr, f[1] ? f[1] + (f[2] ? ":" + f[2] : "") : "—"); h("td", {}, tr, f[3]); h("td", {}, tr, f[4] >= 0 ? T[f[4]][1] : "");
          });
        }

        // The task table: sorted and filtered over the data, at most LIMIT rows in the DOM so 10 000 tasks stay quick.
        var LIMIT = 500, hasShard = T.some(function (t) { return t[9]; }), hasFindings = D.findings.length > 0;
        var COLS = [["#", 0, "num"], ["Task", 1], ["Class", 2], ["Start", 3, "num", dur], ["Duration", 4, "num", dur], ["Cost", 5, "num", usd], ["Retries", 6, "num"],
          ["Tokens in / out", 7, "num"], ["Shard", 9, "", null, !hasShard], ["Findings", 13, "num", null, !hasFindings], ["Result", 10, "result"], ["Transcript", 12, "path"]].filter(function (c) { return !c[4]; });
        var sortCol = 0, sortDir = 1;
        function table() {
          var q = document.getElementById("filter").value.toLowerCase().trim(), cls = document.getElementById("class-filter").value;
          var rows = T.filter(function (t) {
            if (cls && t[2] !== cls) return false;
            return !q || (t[1] + "\n" + t[2] + "\n" + t[10] + "\n" + t[11] + "\n" + t[9]).toLowerCase().indexOf(q) >= 0;
          });
          var k = COLS[sortCol][1];
          rows.sort(function (a, b) { var x = a[k], y = b[k]; return (x < y ? -1 : x > y ? 1 : a[0] - b[0]) * sortDir; });
          var body = document.querySelector("#tasks tbody"), frag = document.createDocumentFragment();
          rows.slice(0, LIMIT).forEach(function (t) {
            var tr = h("tr", {}, frag);
            COLS.forEach(function (c) {
              var td = h("td", { "class": c[2] || "" }, tr);
              if (c[1] === 2) { h("span", { "class": "cls", style: "background:" + color(t[2]) }, td, t[2]); return; }
              if (c[1] === 7) { td.textContent = num(t[7]) + " / " + num(t[8]); return; }
              if (c[1] === 10) { td.textContent = t[10]; if (t[11] && t[10].indexOf(t[11].slice(0, 40)) < 0) h("div", { "class": "err" }, td, t[11]); return; }
              td.textContent = c[3] ? c[3](t[c[1]]) : (t[c[1]] === "" ? "—" : t[c[1]]);
            });
          });
          body.textContent = ""; body.appendChild(frag);
          document.getElementById("table-count").textContent = rows.length > LIMIT
            ? "showing " + num(LIMIT) + " of " + num(rows.length) + " matching (" + num(T.length) + " tasks); refine the filter to see the rest"
            : num(rows.length) + " of " + num(T.length) + " tasks";
          document.getElementById("tasks").setAttribute("data-matching", rows.length);
        }
        function tableSetup() {
          var head = document.querySelector("#tasks thead tr");
          COLS.forEach(function (c, i) {
            var th = h("th", { scope: "col" }, head, c[0]);
            th.addEventListener("click", function () {
              if (sortCol === i) sortDir = -sortDir; else { sortCol = i; sortDir = c[2] === "num" && i > 0 ? -1 : 1; }
              head.querySelectorAll("th").forEach(function (x) { x.removeAttribute("aria-sort"); });
              th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending"); table();
            });
          });
          var select = document.getElementById("class-filter"), classes = {};
          T.forEach(function (t) { classes[t[2]] = (classes[t[2]] || 0) + 1; });
          Object.keys(classes).sort().forEach(function (c) { h("option", { value: c }, select, c + " (" + classes[c] + ")"); });
          var timer = 0;
          document.getElementById("filter").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(table, 80); });
          select.addEventListener("change", table);
          table();
        }

        header(); timeline(); spend(); concurrency(); outcomes();
        histogram("cost", T.map(function (t) { return t[5]; }), usd, "#0969da");
        histogram("duration", T.map(function (t) { return t[4]; }), dur, "#8250df");
        findings(); tableSetup();
        // When the drawing finished, in ms since navigation start (docs/performance.md reports it for a 10 000-task run).
        document.body.setAttribute("data-drawn-ms", Math.round(performance.now()));
        document.body.setAttribute("data-ready", "1");
        })();
        """;
}
