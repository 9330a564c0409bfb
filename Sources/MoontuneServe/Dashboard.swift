/// The dashboard at `/`: one self-contained page (inline CSS and JS, no network dependency but
/// this daemon) that polls `/api/jobs` every two seconds, asking only for the jobs changed since
/// its last answer (`changed_since`, issue 21), and `/api/jobs/NAME/details` of those for the
/// eval series and recent events, and draws every job: state, progress, ETA, the reward and eval
/// charts (inline SVG), checkpoints with their model strings, recent events, the wait (when the
/// job waits on the API) and the last error.
///
/// Every value is inserted as text (`textContent`), never as HTML: names, errors and events come
/// from configs and servers. The bearer token, when the daemon needs one, is taken from the page's
/// `#token=` fragment (never sent in a URL to the server) and sent as `Authorization`.
enum Dashboard {
    static let html = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>moontune serve</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
        h1{font-size:1.3em;margin:0 0 .3em} #summary{color:#555;margin-bottom:1em}
        .job{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:0 0 1em}
        .job h2{font-size:1.1em;margin:0 0 .4em} .state{display:inline-block;padding:0 .5em;border-radius:3px;background:#eee;margin-left:.5em;font-size:.85em}
        .state.running{background:#d7f0d7} .state.failed{background:#f6d3d3} .state.completed{background:#d6e6f7} .state.queued{background:#f3ecd0}
        .bar{height:8px;background:#eee;border-radius:4px;overflow:hidden;width:320px;display:inline-block;vertical-align:middle;margin-right:.5em}
        .bar>div{height:100%;background:#4a8}
        .charts{display:flex;gap:1.5em;flex-wrap:wrap;margin:.5em 0} .charts figure{margin:0} figcaption{font-size:.8em;color:#666}
        svg{background:#fcfcfc;border:1px solid #eee} .muted{color:#888} .error{color:#a00;white-space:pre-wrap} .waiting{color:#a60}
        ul{margin:.2em 0;padding-left:1.2em} code{font-size:.9em}
        </style></head>
        <body>
        <h1>moontune serve</h1>
        <div id="summary">loading…</div>
        <div id="paces" class="muted"></div>
        <div id="jobs"></div>
        <script>
        "use strict";
        const token = new URLSearchParams(location.hash.slice(1)).get("token");
        const headers = token ? {"Authorization": "Bearer " + token} : {};
        function el(tag, attrs, ...children) {
          const node = document.createElement(tag);
          for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
          for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
          return node;
        }
        function duration(s) {
          if (s == null) return "-";
          s = Math.round(s);
          if (s < 60) return s + " s";
          if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
          return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
        }
        function fixed(x, n) { return x == null ? "-" : Number(x).toFixed(n); }
        function chart(cls, values, label) {
          const ns = "http://www.w3.org/2000/svg", w = 300, h = 80;
          const svg = document.createElementNS(ns, "svg");
          svg.setAttribute("class", cls); svg.setAttribute("width", w); svg.setAttribute("height", h);
          svg.setAttribute("data-points", values.length);
          if (values.length > 0) {
            const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
            const pts = values.map((v, i) => {
              const x = values.length === 1 ? w / 2 : 4 + i * (w - 8) / (values.length - 1);
              const y = h - 4 - (v - lo) / span * (h - 8);
              return x.toFixed(1) + "," + y.toFixed(1);
            });
            const line = document.createElementNS(ns, "polyline");
            line.setAttribute("points", pts.join(" ")); line.setAttribute("fill", "none");
            line.setAttribute("stroke", "#4a8"); line.setAttribute("stroke-width", "1.5");
            svg.append(line);
          }
          const caption = el("figcaption", {}, label + (values.length ? " (last " + fixed(values[values.length - 1], 3) + ")" : " (none yet)"));
          return el("figure", {}, svg, caption);
        }
        function waitLine(w) {
          let text = "waiting for the API (" + w.what + ", " + w.endpoint + "): " + w.last_error;
          if (w.attempt > 0) text += "; attempt " + w.attempt;
          if (w.next_attempt_ms) text += ", next in " + duration(Math.max(0, (w.next_attempt_ms - Date.now()) / 1000));
          return text;
        }
        function render(job, details) {
          const section = el("section", {"class": "job", "data-job": job.name});
          section.append(el("h2", {}, job.name, el("span", {"class": "state " + job.state, "data-state": job.state}, job.state)));
          const pct = job.total_steps ? Math.min(100, 100 * job.step / job.total_steps) : 0;
          const bar = el("div", {"class": "bar"}); bar.append(el("div", {"style": "width:" + pct.toFixed(1) + "%"}));
          section.append(el("div", {"class": "progress"}, bar, "step " + job.step + " of " + job.total_steps));
          section.append(el("div", {"class": "eta"}, "ETA " + (job.eta_s == null ? "-" : duration(job.eta_s)),
            el("span", {"class": "muted"}, "   " + (job.steps_per_minute == null ? "" : fixed(job.steps_per_minute, 1) + " steps/min")
              + "   reward " + fixed(job.reward_mean, 3) + "   retries " + job.retries)));
          if (job.waiting) section.append(el("div", {"class": "waiting"}, waitLine(job.waiting)));
          const rewards = (job.reward_trend || []).filter(v => v != null);
          const evals = (details.evals || []).map(e => e.reward_mean);
          section.append(el("div", {"class": "charts"}, chart("reward-chart", rewards, "reward"), chart("eval-chart", evals, "eval reward")));
          const live = (job.checkpoints || []).filter(c => c.state !== "deleted");
          const list = el("ul", {"class": "checkpoints"});
          for (const c of live.slice(-8)) list.append(el("li", {}, "step " + c.step + "  ", el("code", {"class": "model"}, c.model)));
          section.append(el("div", {}, "checkpoints (" + live.length + ")", list));
          const events = el("ul", {"class": "events"});
          for (const e of (details.events || [])) {
            events.append(el("li", {}, new Date(e.at_ms).toLocaleTimeString() + "  " + e.kind + (e.step == null ? "" : " @" + e.step) + ": " + e.message));
          }
          section.append(el("div", {}, "recent events", events));
          section.append(el("div", {"class": "last-error" + (job.last_error ? " error" : " muted")}, job.last_error ? "last error: " + job.last_error : "no error"));
          return section;
        }
        async function get(path) {
          const answer = await fetch(path, {headers: headers, cache: "no-store"});
          if (!answer.ok) throw new Error(path + ": " + answer.status);
          return answer.json();
        }
        // What the page holds between polls: each job's entry and details, by name. Each poll asks
        // only for what changed since the last answer (changed_since), and the details of those.
        const known = new Map();
        let asOf = null;
        async function refresh() {
          try {
            const doc = await get("/api/jobs" + (asOf == null ? "" : "?changed_since=" + asOf));
            const changed = doc.jobs || [];
            const details = await Promise.all(changed.map(j => get("/api/jobs/" + encodeURIComponent(j.name) + "/details").catch(() => ({}))));
            changed.forEach((j, i) => known.set(j.name, {job: j, details: details[i]}));
            const names = new Set(doc.names || changed.map(j => j.name));
            for (const name of [...known.keys()]) if (!names.has(name)) known.delete(name);
            asOf = doc.as_of_ms == null ? null : doc.as_of_ms;
            const entries = [...known.values()];
            const container = document.getElementById("jobs");
            container.replaceChildren(...entries.map(e => render(e.job, e.details)));
            const counts = {};
            for (const e of entries) counts[e.job.state] = (counts[e.job.state] || 0) + 1;
            const budget = (doc.budget || []).map(b => "key " + b.key_id + ": budget " + b.budget + "/" + b.max_budget + ", " + b.in_flight + " in flight").join("; ");
            const finished = doc.finished_jobs || {};
            const more = finished.total > finished.offset + finished.limit ? "  (" + (finished.total - finished.limit) + " older finished jobs not shown)" : "";
            document.getElementById("summary").textContent = entries.length + " jobs: "
              + Object.entries(counts).map(([s, n]) => n + " " + s).join(", ") + (budget ? "  —  " + budget : "") + more
              + "  (updated " + new Date().toLocaleTimeString() + ")";
            const paces = (doc.key_paces || []).map(p => "key " + p.key_id + " (" + p.source + "): "
              + (p.pace_per_s == null ? "unpaced" : fixed(p.pace_per_s, 2) + " requests/s") + ", " + p.rate_limited + " 429s"
              + (p.held_until_ms && p.held_until_ms > Date.now() ? ", held " + duration((p.held_until_ms - Date.now()) / 1000) : ""));
            document.getElementById("paces").textContent = paces.length ? "pace per key — " + paces.join("; ") : "";
            document.body.setAttribute("data-rendered", String(entries.length));
          } catch (error) {
            document.getElementById("summary").textContent = "cannot reach the daemon: " + error.message;
          }
        }
        refresh();
        setInterval(refresh, 2000);
        </script>
        </body></html>
        """#
}
