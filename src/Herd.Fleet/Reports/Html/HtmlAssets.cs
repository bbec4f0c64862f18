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
        <section class="panel"><h2>Timeline <small id="timeline-note">one row per slot; dashed outline = retry; hatched band = fleet pause</small></h2><div class="legend" id="legend"></div><div id="timeline"></div></section>
        <div class="row">
        <section class="panel"><h2>Cumulative spend <small id="spend-note"></small></h2><div id="spend"></div></section>
        <section class="panel"><h2>Concurrency <small id="concurrency-note">attempts running</small></h2><div id="concurrency"></div></section>
        </div>
        <div class="row three">
        <section class="panel"><h2>Outcomes</h2><div id="outcomes"></div></section>
        <section class="panel"><h2>Cost per task</h2><div id="cost"></div></section>
        <section class="panel"><h2>Duration per task</h2><div id="duration"></div></section>
        </div>
        <section class="panel" id="findings-panel" hidden><h2>Findings by severity</h2><div id="findings"></div><div class="table-wrap" style="max-height:320px"><table id="findings-table"><thead><tr><th>Severity</th><th>Location</th><th>Finding</th><th>Task</th></tr></thead><tbody></tbody></table></div><p id="findings-more" hidden></p></section>
        <section class="panel" id="changes-panel" hidden><h2>Changes <small id="changes-note"></small></h2><div class="table-wrap" style="max-height:480px"><table id="changes-table"><thead><tr><th>Task</th><th>Class</th><th>Files</th><th>+</th><th>−</th><th>Verify</th><th>Last verify output</th></tr></thead><tbody></tbody></table></div><p id="changes-more" hidden></p></section>
        <section class="panel"><h2>Tasks</h2><div class="controls"><input id="filter" type="search" placeholder="Filter by name, class, result, error, shard…" aria-label="Filter tasks"><select id="class-filter" aria-label="Outcome class"><option value="">all classes</option></select><span id="table-count"></span></div>
        <div class="table-wrap"><table id="tasks"><thead><tr></tr></thead><tbody></tbody></table></div></section>
        </main>
        <footer>Generated by herd. Self-contained: no network needed to view it. Full records: results.ndjson in the run directory.</footer>

        """;

    public const string Script = """
        (function () {
        "use strict";
        var D = JSON.parse(document.getElementById("herd-data").textContent);
        var T = D.tasks, A = D.attempts || null, B = D.bins || null, R = D.run, NS = "http://www.w3.org/2000/svg";
        // Charts are drawn at their container's width, one SVG unit per CSS pixel, so text keeps its size on any screen.
        function width(id) { return Math.max(320, document.getElementById(id).clientWidth || 960); }
        var COLORS = { success: "#2da44e", success_degraded: "#7ee787", rate_limited: "#f0883e", overloaded: "#d29922", usage_window: "#bf8700",
          cancelled: "#8c959f", interrupted: "#afb8c1", running: "#54aeff", run_budget: "#6e7781", timeout: "#a40e26", hang: "#8250df", network: "#e16f24", unreachable: "#e16f24", server_error: "#bc4c00" };
        var SEV = ["blocker", "critical", "major", "minor", "info"], SEVC = { blocker: "#82071e", critical: "#cf222e", major: "#bc4c00", minor: "#d4a72c", info: "#0969da" };
        function color(c) { return COLORS[c] || "#cf222e"; }
        function s(tag, attrs, parent) { var e = document.createElementNS(NS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
        function h(tag, attrs, parent, text) { var e = document.createElement(tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; if (parent) parent.appendChild(e); return e; }
        function tip(e, text) { s("title", {}, e).textContent = text; return e; }
        // Decimals enough to tell two ticks `step` apart, so an axis never repeats a label.
        function places(step, least) { return step > 0 && step < 1 ? Math.min(6, Math.max(least, Math.ceil(-Math.log10(step) - 1e-9))) : least; }
        function usd(v, step) { var d = step ? (step >= 1 ? 0 : places(step, 2)) : v >= 100 ? 2 : v >= 1 ? 3 : 4; return "$" + v.toFixed(d); }
        function dur(x, step) {
          if (x < 60 || (step && step < 1)) return x.toFixed(step ? places(step, 0) : 1) + " s";
          return x < 3600 ? Math.floor(x / 60) + " m " + Math.round(x % 60) + " s" : Math.floor(x / 3600) + " h " + Math.floor(x % 3600 / 60) + " m";
        }
        function num(n) { return n.toLocaleString("en-US"); }
        function count(v) { return num(v); }
        // A tick step of 1, 2 or 5 times a power of ten giving about n intervals over max; whole numbers on count axes.
        function niceStep(max, n, whole) { if (!(max > 0)) return 1; var raw = max / n, e = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / e, st = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e; return whole ? Math.max(1, Math.round(st)) : st; }

        // A chart frame: margins, axes with ticks at round values, and scale functions. Axes are not marks. The y axis
        // ends at the first tick at or above ymax; yWhole keeps its ticks whole (counts).
        function frame(id, height, xmax, ymax, xfmt, yfmt, yWhole) {
          var W = width(id), m = { l: 56, r: 12, t: 8, b: 22 }, svg = s("svg", { viewBox: "0 0 " + W + " " + height, role: "img", "data-chart": id }, document.getElementById(id));
          var pw = W - m.l - m.r, ph = height - m.t - m.b, g = s("g", { "class": "axis" }, svg);
          var ys = niceStep(ymax, 4, yWhole), ytop = yfmt ? Math.max(ys, Math.ceil(ymax / ys - 1e-9) * ys) : 0;
          var x = function (v) { return m.l + (xmax > 0 ? v / xmax : 0) * pw; }, y = function (v) { return m.t + ph - (ytop > 0 ? v / ytop : 0) * ph; };
          s("line", { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph }, g);
          var xs = niceStep(xmax, 4), last = null;
          for (var i = 0; i * xs <= xmax * (1 + 1e-9); i++) {
            var xv = i * xs, label = xfmt(xv, xs);
            if (label === last) continue; last = label;
            s("text", { x: x(xv), y: height - 6, "text-anchor": i === 0 ? "start" : x(xv) > m.l + pw - 30 ? "end" : "middle" }, g).textContent = label;
          }
          if (yfmt) {
            last = null;
            for (var j = 0; j * ys <= ytop * (1 + 1e-9); j++) {
              var yv = j * ys, yl = yfmt(yv, ys);
              s("line", { x1: m.l, x2: m.l + pw, y1: y(yv), y2: y(yv), opacity: .5 }, g);
              if (yl !== last) s("text", { x: m.l - 6, y: y(yv) + 4, "text-anchor": "end" }, g).textContent = yl;
              last = yl;
            }
          }
          return { svg: svg, x: x, y: y, m: m, pw: pw, ph: ph, h: height };
        }

        var span = 0;
        if (A) A.forEach(function (a) { span = Math.max(span, a[4]); });
        if (B) span = Math.max(span, B.start + B.width * B.spend.length);
        T.forEach(function (t) { span = Math.max(span, t[3] + t[4]); });
        span = span || 1;

        function header() {
          document.getElementById("run-id").textContent = R.id;
          document.getElementById("run-meta").textContent = R.status + (R.exit !== undefined ? " (exit " + R.exit + ")" : "") + " · started " + R.start + " · " + R.dir;
          var cards = [["Tasks", num(R.planned)], ["Succeeded", num(R.succeeded)], ["Failed", num(R.failed), R.failed > 0],
            ["Unfinished", num(R.unfinished), R.unfinished > 0], ["Cost", usd(R.cost) + (R.ceiling !== undefined ? " / " + usd(R.ceiling) : "")],
            ["Wall time", dur(R.wall)], ["p50 / p90 task", dur(R.p50) + " / " + dur(R.p90)], ["Retries", num(R.retries)]];
          if (R.findings) cards.push(["Findings", num(R.findings), true]);
          var box = document.getElementById("cards");
          cards.forEach(function (c) { var d = h("div", { "class": "card" + (c[2] ? " bad" : "") }, box); h("b", {}, d, c[1]); h("span", {}, d, c[0]); });
        }

        function pauses(f, top, height) {
          var defs = s("defs", {}, f.svg), pat = s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
          s("rect", { width: 3, height: 6, fill: "#bf8700" }, pat);
          D.pauses.forEach(function (p) { tip(s("rect", { "class": "pause", x: f.x(p[0]), y: top, width: Math.max(1, f.x(p[1]) - f.x(p[0])), height: height }, f.svg), "fleet pause: " + p[2] + " (" + dur(p[1] - p[0]) + ")"); });
        }

        function legend(classes) {
          var lg = document.getElementById("legend");
          classes.slice().sort().forEach(function (c) { var sp = h("span", {}, lg); h("i", { style: "background:" + color(c) }, sp); sp.appendChild(document.createTextNode(c)); });
          if (D.pauses.length) { var sp = h("span", {}, lg); h("i", { style: "background:#bf8700" }, sp); sp.appendChild(document.createTextNode("pause (" + D.pauses.length + ")")); }
        }

        function timeline() {
          if (!A) return binnedTimeline();
          // Rows are the scheduler's slots; attempts recorded without a slot get the first free lane.
          var lanes = [], slotOf = A.map(function (a) { return a[2]; });
          if (slotOf.some(function (x) { return x < 0; })) {
            A.map(function (a, i) { return i; }).sort(function (i, j) { return A[i][3] - A[j][3]; }).forEach(function (i) {
              if (slotOf[i] >= 0) return; var l = 0; while (l < lanes.length && lanes[l] > A[i][3]) l++; lanes[l] = A[i][4]; slotOf[i] = l; });
          }
          var rows = 1; slotOf.forEach(function (x) { rows = Math.max(rows, x + 1); });
          var rowH = Math.max(3, Math.min(18, 420 / rows)), f = frame("timeline", Math.ceil(rows * rowH) + 34, span, 0, dur);
          pauses(f, f.m.t, rows * rowH);
          var seen = {};
          A.forEach(function (a, i) {
            seen[a[5]] = true;
            var r = s("rect", { "class": "mark" + (a[1] > 1 ? " retry" : ""), x: f.x(a[3]), y: f.m.t + slotOf[i] * rowH + (rowH > 6 ? 1 : 0), width: Math.max(0.6, f.x(a[4]) - f.x(a[3])), height: Math.max(1, rowH - (rowH > 6 ? 2 : 0.5)), fill: color(a[5]) }, f.svg);
            tip(r, T[a[0]][1] + " · attempt " + a[1] + " · " + a[5] + " · " + dur(a[4] - a[3]) + " · " + usd(a[6]));
          });
          legend(Object.keys(seen));
        }

        // A run too large to draw attempt by attempt: attempts running over time, stacked by how they ended.
        function running(i) { var n = 0; B.busy.forEach(function (b) { n += b[i]; }); return n / B.width; }
        function binnedTimeline() {
          document.getElementById("timeline-note").textContent = "attempts running, stacked by how they ended (" + num(R.attempts) + " attempts, averaged over " + dur(B.width, B.width) + " bins); hatched band = fleet pause";
          var n = B.spend.length, peak = 0; for (var i = 0; i < n; i++) peak = Math.max(peak, running(i));
          var f = frame("timeline", 260, span, peak || 1, dur, count, true), base = new Array(n).fill(0);
          pauses(f, f.m.t, f.ph);
          B.classes.forEach(function (c, k) {
            var top = [], d = "";
            for (var i = 0; i < n; i++) top.push(base[i] + B.busy[k][i] / B.width);
            for (var i = 0; i < n; i++) d += (i ? "L" : "M") + f.x(B.start + i * B.width).toFixed(1) + "," + f.y(top[i]).toFixed(1) + "L" + f.x(B.start + (i + 1) * B.width).toFixed(1) + "," + f.y(top[i]).toFixed(1);
            for (var i = n - 1; i >= 0; i--) d += "L" + f.x(B.start + (i + 1) * B.width).toFixed(1) + "," + f.y(base[i]).toFixed(1) + "L" + f.x(B.start + i * B.width).toFixed(1) + "," + f.y(base[i]).toFixed(1);
            tip(s("path", { "class": "mark", d: d + "Z", fill: color(c) }, f.svg), c);
            base = top;
          });
          legend(B.classes);
        }

        function spend() {
          var note = document.getElementById("spend-note");
          note.textContent = R.ceiling !== undefined ? "against the --budget-usd ceiling" : "no --budget-usd ceiling set";
          var ends = A ? A.map(function (a) { return [a[4], a[6]]; }).sort(function (p, q) { return p[0] - q[0]; })
            : B.spend.map(function (v, i) { return [B.start + (i + 1) * B.width, v]; });
          var total = 0; ends.forEach(function (e) { total += e[1]; });
          var top = Math.max(total, R.ceiling || 0) * 1.05, f = frame("spend", 220, span, top, dur, usd), d = "M" + f.x(0) + "," + f.y(0), run = 0;
          ends.forEach(function (e) { run += e[1]; d += "H" + f.x(e[0]).toFixed(1) + "V" + f.y(run).toFixed(1); });
          d += "H" + f.x(span);
          tip(s("path", { "class": "mark spend", d: d }, f.svg), "spent " + usd(total));
          if (R.ceiling !== undefined) {
            tip(s("line", { "class": "mark ceiling", x1: f.x(0), x2: f.x(span), y1: f.y(R.ceiling), y2: f.y(R.ceiling) }, f.svg), "ceiling " + usd(R.ceiling));
            s("text", { "class": "label", x: f.x(span) - 4, y: f.y(R.ceiling) - 4, "text-anchor": "end" }, f.svg).textContent = "ceiling " + usd(R.ceiling);
          }
        }

        function concurrency() {
          if (!A) {
            document.getElementById("concurrency-note").textContent = "attempts running, averaged over " + dur(B.width, B.width) + " bins";
            var n = B.spend.length, peak = 0; for (var i = 0; i < n; i++) peak = Math.max(peak, running(i));
            var g = frame("concurrency", 220, span, peak || 1, dur, count, true), p = "M" + g.x(0) + "," + g.y(0);
            for (var i = 0; i < n; i++) p += "H" + g.x(B.start + i * B.width).toFixed(1) + "V" + g.y(running(i)).toFixed(1);
            p += "H" + g.x(span) + "V" + g.y(0);
            tip(s("path", { "class": "mark concurrency", d: p }, g.svg), "peak " + Math.round(peak * 10) / 10 + " running (bin average)");
            return;
          }
          // A zero-length attempt (refused at once) never ran: leaving it out lets ends sort before starts at equal
          // times, so the line neither dips below zero nor spikes above the real peak.
          var ev = []; A.forEach(function (a) { if (a[4] > a[3]) { ev.push([a[3], 1]); ev.push([a[4], -1]); } });
          ev.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1]; });
          var cur = 0, peak = 0; ev.forEach(function (e) { cur += e[1]; peak = Math.max(peak, cur); });
          var f = frame("concurrency", 220, span, peak || 1, dur, count, true), d = "M" + f.x(0) + "," + f.y(0);
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
          bars("outcomes", D.outcomes.map(function (o) { return [o[0], o[1], color(o[0]), o[0] + ": " + num(o[1]) + " tasks"]; }));
        }

        function histogram(id, hist, fmt, fill) {
          var counts = hist.counts, bins = counts.length, max = hist.max || 1, top = 1;
          counts.forEach(function (c) { top = Math.max(top, c); });
          var f = frame(id, 220, max, top, fmt, count, true), bw = f.pw / bins;
          counts.forEach(function (c, i) {
            tip(s("rect", { "class": "mark", x: f.m.l + i * bw + 1, y: f.y(c), width: Math.max(1, bw - 2), height: f.y(0) - f.y(c), fill: fill }, f.svg),
              fmt(max * i / bins, max / bins) + " – " + fmt(max * (i + 1) / bins, max / bins) + ": " + num(c) + " tasks");
          });
        }

        function findings() {
          if (!R.findings) return;
          document.getElementById("findings-panel").hidden = false;
          bars("findings", SEV.map(function (v) { var n = D.severities[v] || 0; return [v, n, SEVC[v], v + ": " + num(n) + " findings"]; }));
          var body = document.querySelector("#findings-table tbody");
          D.findings.forEach(function (f) {
            var tr = h("tr", {}, body); h("td", { "class": "sev", style: "color:" + SEVC[f[0]] }, tr, f[0]);
            h("td", { "class": "path" }, tr, f[1] ? f[1] + (f[2] ? ":" + f[2] : "") : "—"); h("td", {}, tr, f[3]); h("td", {}, tr, f[4]);
          });
          if (R.findings > D.findings.length) {
            var more = document.getElementById("findings-more"); more.hidden = false;
            more.textContent = "The " + num(D.findings.length) + " most severe of " + num(R.findings) + " findings; `herd report --format sarif` lists them all.";
          }
        }

        // --isolate / --verify: per task the files changed, lines +/-, verify runs and fix rounds, the last verify output.
        function changes() {
          var C = D.changes;
          if (!C) return;
          document.getElementById("changes-panel").hidden = false;
          document.getElementById("changes-note").textContent = num(C.changed) + " task(s) changed " + num(C.files) + " file(s), +" + num(C.added) + " −" + num(C.removed) +
            (C.verifyPassed + C.verifyFailed ? "; verify passed " + num(C.verifyPassed) + ", failed " + num(C.verifyFailed) + ", " + num(C.fixRounds) + " fix round(s)" : "");
          var body = document.querySelector("#changes-table tbody");
          C.rows.forEach(function (r) {
            var tr = h("tr", { "class": "mark" }, body); h("td", { title: r[9] }, tr, r[0]);
            var cls = h("td", {}, tr); h("span", { "class": "cls", style: "background:" + color(r[1]) }, cls, r[1]);
            h("td", { "class": "num" }, tr, num(r[2])); h("td", { "class": "num" }, tr, "+" + num(r[3])); h("td", { "class": "num" }, tr, "−" + num(r[4]));
            h("td", { "class": r[7] === 0 ? "err" : "" }, tr, r[7] < 0 ? "—" : (r[7] ? "passed" : "failed") + ", " + r[5] + " run(s), " + r[6] + " fix round(s)");
            var out = h("td", { "class": "result" }, tr);
            if (r[8]) { var det = h("details", {}, out); h("summary", {}, det, r[8].trim().split("\n").pop()); h("pre", {}, det, r[8]); }
          });
          var more = document.getElementById("changes-more");
          if (C.left > 0 || C.land) {
            more.hidden = false;
            more.textContent = (C.left > 0 ? "Failed tasks first, then in plan order: " + num(C.rows.length) + " of " + num(C.tasks) + " task(s) shown. " : "") +
              (C.land ? "`herd report " + R.dir + " --format patch` lists every patch that would land; `herd apply " + R.dir + " --check` checks them on HEAD." : "");
          }
        }

        // The task table: sorted and filtered over the data, at most LIMIT rows in the DOM so 10 000 tasks stay quick.
        // A run too large to keep every task brings its failed, slowest and costliest tasks (R.finished counts them all).
        var LIMIT = 500, hasShard = T.some(function (t) { return t[9]; }), hasFindings = R.findings > 0, hasTranscript = T.some(function (t) { return t[12]; });
        var COLS = [["#", 0, "num"], ["Task", 1], ["Class", 2], ["Start", 3, "num", dur], ["Duration", 4, "num", dur], ["Cost", 5, "num", usd], ["Retries", 6, "num"],
          ["Tokens in / out", 7, "num"], ["Shard", 9, "", null, !hasShard], ["Findings", 13, "num", null, !hasFindings], ["Result", 10, "result"], ["Transcript", 12, "path", null, !hasTranscript]].filter(function (c) { return !c[4]; });
        var sortCol = 0, sortDir = 1, partial = T.length < R.finished;
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
          var of = partial ? " of the " + num(T.length) + " tasks kept from " + num(R.finished) + " (the failed, the slowest and the costliest; results.ndjson has every task)" : " of " + num(T.length) + " tasks";
          document.getElementById("table-count").textContent = rows.length > LIMIT
            ? "showing " + num(LIMIT) + " of " + num(rows.length) + " matching (" + num(partial ? R.finished : T.length) + " tasks); refine the filter to see the rest"
            : num(rows.length) + of;
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
        histogram("cost", D.hist.cost, usd, "#0969da");
        histogram("duration", D.hist.duration, dur, "#8250df");
        findings(); changes(); tableSetup();
        // When the drawing finished, in ms since navigation start (docs/performance.md reports it for a 10 000-task run).
        document.body.setAttribute("data-drawn-ms", Math.round(performance.now()));
        document.body.setAttribute("data-ready", "1");
        })();
        """;
}
