/// The inspector's markup and style (its script is ``InspectorScript``).
enum InspectorPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>pgrelay inspector</title>
        <link rel="stylesheet" href="/inspector.css">
        </head>
        <body>
        <header>
          <h1>pgrelay</h1>
          <span id="state" class="state" data-state="connecting">connecting</span>
          <span class="figure">resume id <code id="resume">–</code></span>
          <span class="figure"><code id="rate">0</code> events/s</span>
          <span class="figure"><code id="total">0</code> received</span>
          <span class="figure" id="dropped-note" hidden><code id="dropped">0</code> not drawn (too fast to show)</span>
        </header>
        <form id="controls" autocomplete="off">
          <label>Table or channel
            <select id="table"><option value="">all subscribed tables</option></select>
          </label>
          <fieldset id="events">
            <legend>Events</legend>
            <label><input type="checkbox" value="INSERT" checked> INSERT</label>
            <label><input type="checkbox" value="UPDATE" checked> UPDATE</label>
            <label><input type="checkbox" value="DELETE" checked> DELETE</label>
            <label><input type="checkbox" value="TRUNCATE" checked> TRUNCATE</label>
          </fieldset>
          <label class="wide">Row filter
            <input id="filter" type="text" spellcheck="false" placeholder="status=eq.paid&amp;total=gt.100">
          </label>
          <label>Replay from
            <input id="since" type="text" spellcheck="false" placeholder="id, or 2026-12-04T10:00:00Z">
          </label>
          <label>Token
            <input id="token" type="password" spellcheck="false" placeholder="only with auth on">
          </label>
          <button type="submit" id="apply">Apply</button>
          <button type="button" id="pause">Pause</button>
          <button type="button" id="clear">Clear</button>
        </form>
        <details id="syntax">
          <summary>Filter syntax</summary>
          <p>PostgREST query parameters, evaluated against the new row (the old one for a DELETE), ANDed together:
          <code>status=eq.paid</code>, <code>total=gt.100</code>, <code>name=ilike.*pie*</code>,
          <code>status=in.(open,"on hold")</code>, <code>note=is.null</code>, <code>status=not.eq.paid</code>,
          <code>or=(status.eq.open,total.gt.100)</code>. Operators: eq neq gt gte lt lte like ilike in is.</p>
          <p id="columns"></p>
        </details>
        <p id="error" role="alert" hidden></p>
        <section id="presence" hidden>
          <h2>Present</h2>
          <ul id="present"></ul>
          <p id="nobody">nobody</p>
        </section>
        <table id="changes">
          <thead><tr><th>id</th><th>committed</th><th>op</th><th>table</th><th>row</th></tr></thead>
          <tbody id="rows"></tbody>
        </table>
        <script src="/inspector.js"></script>
        </body>
        </html>
        """#

    static let css = #"""
        :root { color-scheme: light dark; --insert: #1a7f37; --update: #9a6700; --delete: #cf222e; --truncate: #8250df; }
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1rem 2rem; }
        header { display: flex; gap: 1.2rem; align-items: baseline; flex-wrap: wrap; padding: .6rem 0; border-bottom: 1px solid #8884; }
        h1 { font-size: 1.2rem; margin: 0; }
        .state { padding: .1rem .5rem; border-radius: 1rem; background: #8883; }
        .state[data-state="live"] { background: #1a7f3733; }
        .state[data-state="replaying"] { background: #9a670033; }
        .state[data-state="paused"] { background: #8250df33; }
        .state[data-state="error"], .state[data-state="disconnected"] { background: #cf222e33; }
        form { display: flex; gap: .8rem; align-items: end; flex-wrap: wrap; margin: .8rem 0; }
        label { display: flex; flex-direction: column; font-size: .8rem; gap: .2rem; }
        fieldset { display: flex; gap: .5rem; border: 1px solid #8886; padding: .2rem .5rem; }
        fieldset label { flex-direction: row; align-items: center; }
        label.wide input { min-width: 22rem; }
        input, select, button { font: inherit; }
        code, pre { font-family: ui-monospace, monospace; font-size: .85rem; }
        #error { color: var(--delete); white-space: pre-wrap; font-family: ui-monospace, monospace; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; vertical-align: top; padding: .25rem .5rem; border-bottom: 1px solid #8883; }
        td:nth-child(-n+4) { white-space: nowrap; }
        td.op { font-weight: 600; }
        tr[data-op="INSERT"] td.op { color: var(--insert); }
        tr[data-op="UPDATE"] td.op { color: var(--update); }
        tr[data-op="DELETE"] td.op { color: var(--delete); }
        tr[data-op="TRUNCATE"] td.op { color: var(--truncate); }
        tr[data-op="MESSAGE"] td.op { color: var(--insert); }
        tr[data-op="BROADCAST"] td.op { color: #8888; }
        #presence { border: 1px solid #8884; padding: .2rem .8rem; margin: 0 0 .8rem; }
        #presence h2 { font-size: 1rem; margin: .3rem 0; }
        #presence ul { margin: 0; padding-left: 1.2rem; }
        td.row pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
        ul.changed { margin: 0 0 .2rem; padding-left: 1rem; }
        del { color: var(--delete); } ins { color: var(--insert); text-decoration: none; }
        """#
}
