/// The operator page's stylesheet and script, served from the binary under `/ui/assets/`. The
/// Content-Security-Policy allows only these (`'self'`): no inline script or style.
enum UIAssets {
    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b57d0"/>\
        <path d="M4 4h5a2.5 2.5 0 0 1 0 5H4zm0 5h6a2.5 2.5 0 0 1 0 5H4z" fill="#fff"/></svg>

        """

    static let css: String = {
        // Bar widths as classes: the policy forbids inline `style` attributes.
        let widths = (0...100).map { ".w\($0){width:\($0)%}" }.joined()
        return baseCSS + widths + "\n"
    }()

    private static let baseCSS = """
        :root{--ink:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--panel:#f6f8fa;--accent:#0b57d0;
        --ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--focus:#0b57d0}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
        a{color:var(--accent)}
        a:focus-visible,button:focus-visible,select:focus-visible,input:focus-visible,main:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
        .skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:2}
        .top{display:flex;flex-wrap:wrap;gap:12px 24px;align-items:center;padding:10px 20px;border-bottom:1px solid var(--line);background:var(--panel)}
        .brand{font-weight:700;text-decoration:none;color:var(--ink);font-size:17px}
        .top nav{display:flex;gap:16px}.top nav a[aria-current=page]{font-weight:700;text-decoration:none;color:var(--ink)}
        .signout{margin-left:auto;display:flex;gap:10px;align-items:center}
        main{padding:16px 20px;max-width:1400px}
        h1{font-size:22px;margin:8px 0 14px}h2{font-size:18px;margin:22px 0 8px}
        code{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
        .muted{color:var(--muted)}
        .narrow{max-width:460px}
        .narrow input[type=password]{display:block;width:100%;padding:8px;margin:6px 0 12px;font:inherit;border:1px solid var(--muted);border-radius:6px}
        button{font:inherit;padding:6px 14px;border:1px solid var(--muted);border-radius:6px;background:#fff;color:var(--ink);cursor:pointer}
        button.danger{border-color:var(--bad);color:#fff;background:var(--bad)}
        select{font:inherit;padding:4px;border:1px solid var(--muted);border-radius:6px;background:#fff;color:var(--ink)}
        .filters{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:end;margin-bottom:12px}
        .scroll{overflow-x:auto}
        table{border-collapse:collapse;width:100%;min-width:640px}
        caption{text-align:left;color:var(--muted);padding:4px 0}
        th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
        th{background:var(--panel);font-weight:600}
        .results td:nth-child(4) code{display:block;max-width:520px}
        .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;border:1px solid currentColor}
        .badge.pending{color:var(--muted)}.badge.running{color:var(--accent)}.badge.completed,.badge.succeeded,.badge.delivered{color:var(--ok)}
        .badge.failed,.badge.failed_permanently,.badge.expired{color:var(--bad)}.badge.cancelled,.badge.scheduled_retry{color:var(--warn)}
        .progress{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px;min-width:220px}
        .bar{display:flex;width:160px;height:12px;border-radius:6px;background:#e6e9ed;overflow:hidden;border:1px solid var(--line)}
        .bar .ok{background:var(--ok)}.bar .bad{background:var(--bad)}
        .pct{font-weight:600;min-width:3.2em}.counts{color:var(--muted);font-size:13px}
        .fields{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}.fields dt{color:var(--muted)}.fields dd{margin:0}
        .actions{display:flex;flex-wrap:wrap;gap:12px;align-items:end}
        .alert{border-left:4px solid var(--bad);background:#fff0f0;padding:8px 12px}
        .notice{border-left:4px solid var(--ok);background:#eefbf1;padding:8px 12px}
        .timeline{padding-left:20px}.timeline li{margin:4px 0}
        .pager{display:flex;gap:16px;margin:10px 0}
        @media (max-width:700px){main{padding:12px}.signout{margin-left:0}.fields{grid-template-columns:1fr}.bar{width:110px}
        table.jobs{min-width:0}table.jobs thead{position:absolute;left:-9999px}
        table.jobs tr,table.jobs td{display:block}table.jobs tr{border-bottom:2px solid var(--line);padding:6px 0}
        table.jobs td{border:0;padding:3px 4px}table.jobs td[data-label]::before{content:attr(data-label);display:inline-block;min-width:5.5em;color:var(--muted)}}

        """

    /// Live rows: one `EventSource` on `/ui/live` for every job the page shows (the `data-live` URL); each
    /// `row` event updates that job's status badge, vendor status and progress bar in place.
    static let js = """
        "use strict";
        (function () {
          function setText(root, selector, text) {
            var node = root.querySelector(selector);
            if (node && text !== null && text !== undefined) { node.textContent = String(text); }
          }
          function widthClass(node, prefix, width) {
            if (!node) { return; }
            node.className = prefix + " w" + Math.max(0, Math.min(100, width | 0));
          }
          function update(root, row) {
            var badge = root.querySelector("[data-field=lifecycle]");
            if (badge) { badge.className = "badge " + row.lifecycle_status; badge.textContent = row.lifecycle_status; }
            setText(root, "[data-field=provider_status]", row.provider_status);
            var p = row.progress || {};
            var total = p.total || 0;
            var ok = total > 0 ? Math.min(100, Math.floor(p.succeeded * 100 / total)) : 0;
            var bad = total > 0 ? Math.min(100 - ok, Math.floor(p.failed * 100 / total)) : 0;
            widthClass(root.querySelector(".bar .ok"), "ok", ok);
            widthClass(root.querySelector(".bar .bad"), "bad", bad);
            var bar = root.querySelector(".bar");
            if (bar) {
              bar.setAttribute("aria-label", p.percent + " percent: " + p.succeeded + " succeeded, " + p.failed +
                " failed, " + p.pending + " pending of " + total);
            }
            setText(root, ".pct", p.percent + "%");
            setText(root, ".counts", p.succeeded + " succeeded · " + p.failed + " failed · " + p.pending + " pending");
            root.setAttribute("data-version", String(row.version));
          }
          function start() {
            var live = document.querySelector("[data-live]");
            if (!live || !window.EventSource) { return; }
            var url = live.getAttribute("data-live");
            if (!url) { return; }
            var source = new EventSource(url);
            source.addEventListener("row", function (event) {
              var row;
              try { row = JSON.parse(event.data); } catch (e) { return; }
              var nodes = document.querySelectorAll("[data-id]");
              for (var i = 0; i < nodes.length; i++) {
                if (nodes[i].getAttribute("data-id") === row.id) { update(nodes[i], row); }
              }
            });
            // Every job shown is finished: nothing more will come.
            source.addEventListener("end", function () { source.close(); });
            document.documentElement.setAttribute("data-live-connected", "true");
          }
          if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
        })();

        """
}
