import Foundation

/// The scheduler's status page at `/`: one HTML document that renders the report it carries, then fetches
/// `/api/v1/kiln/status` every few seconds and renders that. One renderer (in the page), so the page and the
/// JSON never disagree.
enum StatusPage {
    static let refreshSeconds = 5

    /// The page with `report` (the JSON of ``SchedulerStatusReport``) embedded.
    static func html(report: [UInt8]) -> [UInt8] {
        // In a <script> element only "</" could end it early; JSON allows "<" to be escaped.
        let embedded = String(decoding: report, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
        return Array((head + "<script id=\"initial\" type=\"application/json\">" + embedded + "</script>" + tail).utf8)
    }

    private static let head = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Kiln scheduler</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="icon" href="data:,">
        <noscript><meta http-equiv="refresh" content="\(refreshSeconds)"></noscript>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
        h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.4em 0 .4em}
        table{border-collapse:collapse} td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}
        .num{text-align:right} .bad{color:#a00} .muted{color:#777} code{font-size:.9em}
        .tiles{display:flex;gap:1em;flex-wrap:wrap} .tile{border:1px solid #ddd;border-radius:6px;padding:.5em 1em}
        .tile b{display:block;font-size:1.5em}
        </style></head><body>
        <h1>Kiln scheduler</h1><div class="muted">as of <span id="generated">?</span>; refreshes every \(refreshSeconds) s</div>
        <div class="tiles">
        <div class="tile"><b id="servers">?</b>build servers</div>
        <div class="tile"><b id="slots">?</b>slots busy / total</div>
        <div class="tile"><b id="inflight">?</b>jobs in flight (<span id="kinds">?</span>)</div>
        <div class="tile"><b id="toolchains">?</b>toolchains held</div>
        </div>
        <h2>Build servers</h2>
        <table><thead><tr><th>server</th><th class="num">CPUs</th><th class="num">jobs / slots</th><th class="num">last heartbeat</th><th>state</th><th>toolchains</th></tr></thead>
        <tbody id="server-rows"></tbody></table>
        <h2>Jobs in flight by state</h2><div id="job-states"></div>
        <h2>Recent failures</h2>
        <table><thead><tr><th>when (UTC)</th><th>server</th><th>what</th></tr></thead><tbody id="failure-rows"></tbody></table>
        <p class="muted">JSON: <a href="/api/v1/kiln/status">/api/v1/kiln/status</a> · metrics: <a href="/metrics">/metrics</a></p>

        """

    private static let tail = """

        <script>
        "use strict";
        function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
        function render(report) {
          const farm = report.farm;
          document.getElementById("generated").textContent = report.generatedAt;
          document.getElementById("servers").textContent = farm.servers.length;
          document.getElementById("slots").textContent = farm.slotsBusy + " / " + farm.slotsTotal;
          document.getElementById("inflight").textContent = report.jobsInFlight;
          document.getElementById("kinds").textContent = "sccache " + (farm.jobsByKind.sccache || 0) + ", REAPI " + (farm.jobsByKind.reapi || 0);
          document.getElementById("toolchains").textContent = farm.toolchains;
          const rows = document.getElementById("server-rows");
          rows.replaceChildren();
          for (const server of farm.servers) {
            const row = rows.insertRow();
            row.dataset.server = server.id;
            cell(row, server.id);
            cell(row, server.cpus, "num");
            cell(row, server.jobs + " / " + server.slots + (server.remoteActions ? " (" + server.remoteActions + " REAPI)" : ""), "num");
            cell(row, server.secondsSinceHeartbeat.toFixed(1) + " s ago", "num");
            const state = server.draining ? "draining" : server.quarantined ? "quarantined" : "ready";
            cell(row, state, state === "ready" ? "" : "bad");
            cell(row, server.toolchains.length ? server.toolchains.map(t => t.slice(0, 12)).join(", ") : "none yet", "muted");
          }
          if (!farm.servers.length) cell(rows.insertRow(), "no build server has sent a heartbeat", "muted").colSpan = 6;
          const states = Object.entries(farm.jobsByState).map(([name, count]) => name + ": " + count);
          document.getElementById("job-states").textContent = states.length ? states.join(", ") : "none";
          const failures = document.getElementById("failure-rows");
          failures.replaceChildren();
          for (const failure of report.recentFailures) {
            const row = failures.insertRow();
            cell(row, failure.at);
            cell(row, failure.server || "");
            cell(row, failure.what, "bad");
          }
          if (!report.recentFailures.length) cell(failures.insertRow(), "none", "muted").colSpan = 3;
        }
        async function refresh() {
          try {
            const answer = await fetch("/api/v1/kiln/status", { headers: { "Accept": "application/json" } });
            if (answer.ok) render(await answer.json());
          } catch (error) {
            document.getElementById("generated").textContent = "unreachable (" + error.message + ")";
          }
        }
        render(JSON.parse(document.getElementById("initial").textContent));
        setInterval(refresh, \(refreshSeconds * 1000));
        </script>
        </body></html>
        """
}
