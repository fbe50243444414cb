namespace Tomalign.Cli.Serve;

/// <summary>The job page of `serve`: plain HTML and a little JavaScript polling /api/jobs; nothing loaded from elsewhere.</summary>
internal static class ServePage
{
    public const string Html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tomalign jobs</title>
        <link rel="icon" href="data:,">
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
          h1 { font-size: 1.4em; margin: 0 0 .5em; }
          table { border-collapse: collapse; width: 100%; }
          th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #ddd; vertical-align: top; }
          th { background: #f4f4f4; }
          .state { font-weight: 600; }
          .queued { color: #666; } .running { color: #0a58ca; } .done { color: #198754; }
          .failed { color: #b02a37; } .cancelled { color: #997404; } .unreliable { color: #b02a37; background: #fbe9ea; }
          .error { color: #b02a37; max-width: 40em; white-space: pre-wrap; }
          .path { color: #666; font-size: .9em; word-break: break-all; }
          form { margin: 1em 0; } input[type=text] { width: 30em; }
          #status { color: #666; font-size: .9em; margin-left: 1em; }
          button { margin-right: .3em; }
        </style>
        </head>
        <body>
        <h1>Tomalign jobs</h1>
        <form id="submit">
          <label>Stack <input type="text" id="stack" placeholder="series.mrc (in the watched folder) or a full path"></label>
          <button type="submit">Queue</button>
          <span id="status"></span>
        </form>
        <table>
          <thead><tr><th>#</th><th>Series</th><th>State</th><th>Stage</th><th>Attempts</th><th>Created</th><th>Finished</th><th>Outputs</th><th></th></tr></thead>
          <tbody id="jobs"><tr><td colspan="9">loading…</td></tr></tbody>
        </table>
        <script>
        "use strict";
        var jobsBody = document.getElementById("jobs");
        var statusLine = document.getElementById("status");

        function cell(row, text, cls) {
          var td = document.createElement("td");
          if (text !== null && text !== undefined) td.textContent = text;
          if (cls) td.className = cls;
          row.appendChild(td);
          return td;
        }

        function when(t) { return t ? new Date(t).toLocaleString() : ""; }

        function link(parent, href, text) {
          var a = document.createElement("a");
          a.href = href;
          a.textContent = text;
          parent.appendChild(a);
          parent.appendChild(document.createTextNode(" "));
          return a;
        }

        function action(parent, id, verb) {
          var b = document.createElement("button");
          b.textContent = verb;
          b.className = verb;
          b.addEventListener("click", function () {
            fetch("/api/jobs/" + id + "/" + verb, { method: "POST" })
              .then(function (r) { return r.json(); })
              .then(function (j) { statusLine.textContent = j.error || ("job " + id + ": " + j.state); refresh(); })
              .catch(function (e) { statusLine.textContent = String(e); });
          });
          parent.appendChild(b);
        }

        function render(jobs) {
          jobsBody.textContent = "";
          if (jobs.length === 0) {
            var empty = document.createElement("tr");
            cell(empty, "No jobs yet: drop a stack and its angle file into the watched folder.").colSpan = 9;
            jobsBody.appendChild(empty);
          }
          jobs.forEach(function (j) {
            var row = document.createElement("tr");
            row.className = "job";
            row.dataset.id = j.id;
            row.dataset.state = j.state;
            cell(row, j.id);
            var series = cell(row, j.name, "name");
            var path = document.createElement("div");
            path.className = "path";
            path.textContent = j.stack;
            series.appendChild(path);
            var state = cell(row, j.state, "state " + j.state);
            if (j.error) {
              var err = document.createElement("div");
              err.className = "error";
              err.textContent = j.error;
              state.appendChild(err);
            }
            cell(row, j.stage || "");
            cell(row, j.attempts);
            cell(row, when(j.created));
            cell(row, when(j.finished));
            var outputs = cell(row, null, "outputs");
            if (j.report) link(outputs, j.report, "report").className = "report";
            link(outputs, "/api/jobs/" + j.id, "details");
            var actions = cell(row, null, "actions");
            if (j.state === "queued" || j.state === "running") action(actions, j.id, "cancel");
            if (j.state === "failed" || j.state === "cancelled") action(actions, j.id, "retry");
            jobsBody.appendChild(row);
          });
        }

        var shown = null;
        function refresh() {
          return fetch("/api/jobs", { cache: "no-store" })
            .then(function (r) { return r.text(); })
            .then(function (text) {
              // Redrawn only when something changed, so that links and buttons stay put between polls.
              if (text === shown) return;
              shown = text;
              render(JSON.parse(text));
            })
            .catch(function (e) { statusLine.textContent = "cannot reach the service: " + e; });
        }

        document.getElementById("submit").addEventListener("submit", function (e) {
          e.preventDefault();
          var stack = document.getElementById("stack").value;
          fetch("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ stack: stack }) })
            .then(function (r) { return r.json(); })
            .then(function (j) { statusLine.textContent = j.error || ("queued job " + j.id); refresh(); })
            .catch(function (err) { statusLine.textContent = String(err); });
        });

        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """;
}
