// The inspector's script: streams over `fetch` (not `EventSource`) so that a token travels in
// the `Authorization` header, never in a URL the browser shows, keeps or sends as a referrer.
//
// One stream per table (a browser opens at most six connections to one origin over HTTP/1.1,
// so "all tables" streams the first `maxStreams`); each remembers its cursor (the id of the
// last event or `live` marker), so pause and reconnects resume from it with no gap. Events are
// queued as they arrive and drawn once per animation frame, newest (highest id) first; at most
// `maxRows` rows are kept, and a queue that outruns the page is cut to what could still be seen.
//
// A named channel (chosen as `channel:NAME`) streams its messages, ephemeral events (shown
// without an id, at the place they arrived) and presence, which the presence panel keeps
// current from the state and diffs the stream sends.
"use strict";
(() => {
const maxRows = 500, maxStreams = 5, largeRow = 400, operations = ["INSERT", "UPDATE", "DELETE", "TRUNCATE"];
const $ = (id) => document.getElementById(id);
const page = { tables: [], channels: [], presence: null, streams: [], paused: false, applying: 0, queue: [], total: 0, dropped: 0, second: 0, pages: 0, errors: new Map() };
// For the browser's console (and tests): the streams, their URLs and cursors.
window.pgrelayInspector = page;

function token() { return $("token").value.trim(); }
function headers(accept) {
  const result = { Accept: accept };
  if (token()) result.Authorization = "Bearer " + token();
  return result;
}
function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

/// The server's message for a failed request: its JSON {"error": {"message"}} or {"error": "..."}.
async function failure(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body.error && typeof body.error === "object" && body.error.message) return body.error.message;
    if (typeof body.error === "string") return body.error;
  } catch (_) {}
  return text || response.status + " " + response.statusText;
}

function showErrors() {
  const lines = [...page.errors].map(([table, message]) => (table ? table + ": " : "") + message);
  $("error").hidden = lines.length === 0;
  $("error").textContent = lines.join("\n");
}
function setError(table, message) { page.errors.set(table, message); showErrors(); showState(); }
function clearError(table) { if (page.errors.delete(table)) { showErrors(); showState(); } }

/// One table's stream: reads SSE from a fetch body, reconnects from its cursor.
class Stream {
  constructor(table, query, cursor) {
    this.table = table; this.query = query; this.cursor = cursor;
    this.stopped = false; this.connected = false; this.live = false; this.failed = false; this.controller = null;
  }
  url() {
    if (this.table.startsWith("channel:")) {
      const since = this.cursor !== null ? "?since=" + this.cursor : "";
      return "/v1/channels/" + encodeURIComponent(this.table.slice(8)) + "/stream" + since;
    }
    const query = new URLSearchParams(this.query);
    if (this.cursor !== null) query.set("since", String(this.cursor));
    const text = query.toString();
    return "/v1/stream/" + encodeURIComponent(this.table) + (text ? "?" + text : "");
  }
  stop() { this.stopped = true; if (this.controller) this.controller.abort(); }
  /// A request of this stream's; null when the server refused it for good (said, and stopped).
  async request(url, accept, cache) {
    const response = await fetch(url, { headers: headers(accept), signal: this.controller.signal, cache });
    if (response.ok) return response;
    const message = await failure(response);
    // A request the server refuses (bad filter, unknown table, bad token, log
    // cleaned up past the id) fails again the same way: say so and stop.
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      setError(this.table, message); this.stopped = true; this.failed = true; showState(); return null;
    }
    throw new Error(message);
  }
  /// From an id, a table catches up through /v1/changes pages (immutable below the newest
  /// change: a browser or HTTP cache may answer them) until the page at the live edge; the
  /// stream then goes live from that page's next_since, so nothing is missed or repeated.
  async catchUp() {
    if (this.table.startsWith("channel:") || this.cursor === null) return true;
    for (;;) {
      const query = new URLSearchParams(this.query);
      query.set("since", String(this.cursor));
      // A page the list can hold whole, drawn before the next is asked for: the replay
      // scrolls by as it did over SSE instead of each page's older half being cut unseen.
      query.set("limit", String(maxRows));
      const response = await this.request("/v1/changes/" + encodeURIComponent(this.table) + "?" + query, "application/json", "default");
      if (!response) return false;
      const body = await response.json();
      for (const change of body.changes) this.dispatch({ id: String(change.id), name: change.operation, data: [JSON.stringify(change)] });
      if (this.stopped) return false;
      this.cursor = body.next_since;
      page.pages += 1;
      if (!body.has_more) return true;
      // A hidden page draws no frames: it catches up without waiting for them.
      if (document.visibilityState === "visible") await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  }
  async run() {
    let delay = 500;
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        if (!(await this.catchUp())) return;
        const response = await this.request(this.url(), "text/event-stream", "no-store");
        if (!response) return;
        this.connected = true; delay = 500; clearError(this.table); showState();
        await this.read(response.body.getReader());
      } catch (error) {
        if (this.stopped) return;
        setError(this.table, "disconnected (" + (error && error.message ? error.message : error) + "); reconnecting from " + (this.cursor ?? "now"));
      }
      this.connected = false; this.live = false; showState();
      if (this.stopped) return;
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  }
  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "", event = { id: null, name: "", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
        if (line === "") {
          if (event.data.length > 0 || event.name) this.dispatch(event);
          event = { id: null, name: "", data: [] };
          if (this.stopped) return;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "id") event.id = value;
        else if (field === "event") event.name = value;
        else if (field === "data") event.data.push(value);
      }
    }
  }
  dispatch(event) {
    // A stopped stream's last chunk may still hold events: they belong to the old view.
    if (this.stopped) return;
    const data = event.data.join("\n");
    if (event.name === "error") {
      let message = data;
      try { message = JSON.parse(data).error || data; } catch (_) {}
      setError(this.table, message);
      this.failed = true;
      this.stop();
      return;
    }
    if (event.id !== null && /^\d+$/.test(event.id)) this.cursor = Number(event.id);
    if (event.name === "live") { this.live = true; showState(); return; }
    let change;
    try { change = JSON.parse(data); } catch (_) { return; }
    if (event.name === "presence_state") { page.presence = change.presence || {}; showPresence(); return; }
    if (event.name === "presence_diff") {
      page.presence = page.presence || {};
      for (const [user, state] of Object.entries(change.leaves || {})) delete page.presence[user];
      for (const [user, state] of Object.entries(change.joins || {})) page.presence[user] = state;
      showPresence();
      return;
    }
    if (event.name === "message") change.operation = "MESSAGE";
    else if (event.name === "broadcast") { change.operation = "BROADCAST"; change.id = (this.cursor ?? 0) + 0.5; }
    else if (!operations.includes(event.name)) return;
    page.total += 1; page.second += 1;
    page.queue.push(change);
    // More than a screenful waiting: the oldest would be pushed out unseen anyway.
    if (page.queue.length > maxRows) {
      page.dropped += page.queue.length - maxRows;
      page.queue.splice(0, page.queue.length - maxRows);
    }
  }
}

/// The live table view: one table's rows as a filter selects them now (`snapshot=true`), kept
/// current in place: new rows appear, changed cells flash, deleted rows leave, a TRUNCATE empties
/// it. Rows are keyed by the table's key columns (the whole row for a keyless table). It resumes
/// from its cursor with `Last-Event-ID` after the snapshot, and takes a new snapshot when it
/// dropped before the snapshot ended.
class LiveTable extends Stream {
  constructor(table, filter, described) {
    super(table, filter, null);
    this.columns = described ? described.columns.map((c) => c.name) : [];
    this.key = described ? described.key : [];
    this.rows = new Map();
    this.snapshotEnded = false;
    $("live-name").textContent = table;
    $("live-head").replaceChildren(...this.columns.map((name) => { const th = document.createElement("th"); th.textContent = name; return th; }));
    $("live-rows").replaceChildren();
    $("live-count").textContent = "0"; $("live-after").textContent = "–";
  }
  url() {
    const query = new URLSearchParams(this.query);
    query.set("snapshot", "true");
    return "/v1/stream/" + encodeURIComponent(this.table) + "?" + query.toString();
  }
  async catchUp() { return true; }
  async request(url, accept, cache) {
    // After the snapshot, the changes resume from the cursor; before it ended, a new snapshot.
    if (!this.snapshotEnded) { this.rows.clear(); $("live-rows").replaceChildren(); }
    const extra = this.snapshotEnded && this.cursor !== null ? { "Last-Event-ID": String(this.cursor) } : {};
    const response = await fetch(url, { headers: Object.assign(headers(accept), extra), signal: this.controller.signal, cache });
    if (response.ok) return response;
    const message = await failure(response);
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      setError(this.table, message); this.stopped = true; this.failed = true; showState(); return null;
    }
    throw new Error(message);
  }
  keyOf(row) { return this.key.length ? JSON.stringify(this.key.map((k) => row[k])) : JSON.stringify(row); }
  dispatch(event) {
    if (this.stopped) return;
    const data = event.data.join("\n");
    if (event.name === "error") {
      let message = data;
      try { message = JSON.parse(data).error || data; } catch (_) {}
      setError(this.table, message); this.failed = true; this.stop(); return;
    }
    if (event.id !== null && /^\d+$/.test(event.id)) this.cursor = Number(event.id);
    if (event.name === "live") { this.live = true; showState(); return; }
    if (event.name === "snapshot") { this.snapshotEnded = true; $("live-after").textContent = String(this.cursor); this.count(); return; }
    let body;
    try { body = JSON.parse(data); } catch (_) { return; }
    page.total += 1; page.second += 1;
    if (event.name === "row") { this.put(body, false); return; }
    $("live-after").textContent = String(this.cursor);
    if (event.name === "TRUNCATE") { this.rows.clear(); $("live-rows").replaceChildren(); }
    else if (event.name === "DELETE") this.remove(body.old);
    else if (event.name === "INSERT" || event.name === "UPDATE") {
      // A change of key leaves under the old key.
      if (body.old && this.keyOf(body.old) !== this.keyOf(body.new)) this.remove(body.old);
      this.put(body.new, true);
    }
    this.count();
  }
  count() { $("live-count").textContent = String(this.rows.size); }
  text(value) { return value === undefined ? "" : value === null ? "null" : typeof value === "string" ? value : JSON.stringify(value); }
  put(row, flash) {
    const key = this.keyOf(row);
    const known = this.rows.get(key);
    if (!known) {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      for (const name of this.columns) { const td = document.createElement("td"); td.dataset.column = name; td.textContent = this.text(row[name]); tr.appendChild(td); }
      if (flash) { tr.className = "added"; $("live-rows").prepend(tr); } else $("live-rows").appendChild(tr);
      this.rows.set(key, { tr, row });
      return;
    }
    for (const td of known.tr.cells) {
      const text = this.text(row[td.dataset.column]);
      if (td.textContent !== text) {
        td.textContent = text;
        // Restarts the flash on a cell that changes again.
        td.classList.remove("changed"); void td.offsetWidth; td.classList.add("changed");
      }
    }
    known.row = row;
  }
  remove(old) {
    if (!old) return;
    const key = this.keyOf(old);
    const known = this.rows.get(key);
    if (known) { known.tr.remove(); this.rows.delete(key); }
  }
}

function resumeID() {
  const ids = page.streams.map((s) => s.cursor).filter((id) => id !== null);
  return ids.length ? Math.max(...ids) : null;
}

function showState() {
  const state = $("state");
  let name;
  const running = page.streams.filter((s) => !s.failed);
  if (page.paused) name = "paused";
  else if (page.applying > 0) name = "connecting";
  else if (page.streams.length === 0) name = page.errors.size ? "error" : "idle";
  else if (running.length === 0) name = "error";
  else if (running.some((s) => !s.connected)) name = page.errors.size ? "reconnecting" : "connecting";
  else if (running.every((s) => s.live)) name = "live";
  else name = "replaying";
  state.dataset.state = name;
  state.textContent = name;
  const id = resumeID();
  $("resume").textContent = id === null ? "–" : String(id);
}

function render() {
  if (page.queue.length > 0) {
    // Newest first by id, which is commit order across tables: streams of different
    // tables arrive interleaved, so a batch is merged into the rows at the top.
    const batch = page.queue.sort((a, b) => b.id - a.id);
    page.queue = [];
    const body = $("rows");
    let next = body.firstElementChild;
    for (const change of batch) {
      while (next && Number(next.dataset.id) > change.id) next = next.nextElementSibling;
      body.insertBefore(row(change), next);
    }
    while (body.rows.length > maxRows) body.deleteRow(-1);
  }
  $("total").textContent = String(page.total);
  $("dropped").textContent = String(page.dropped);
  $("dropped-note").hidden = page.dropped === 0;
  showState();
  requestAnimationFrame(render);
}

function cell(tr, text, className) {
  const td = tr.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/// A JSON value as text, collapsed behind a summary when long.
function value(parent, json) {
  const text = JSON.stringify(json);
  if (text.length <= largeRow) {
    const pre = document.createElement("pre");
    pre.textContent = text;
    parent.appendChild(pre);
    return;
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = text.slice(0, 120) + "… (" + text.length + " characters)";
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(json, null, 2);
  details.append(summary, pre);
  parent.appendChild(details);
}

/// Who is present on the chosen channel, from its presence state and diffs.
function showPresence() {
  const list = $("present");
  list.replaceChildren();
  const users = Object.entries(page.presence || {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [user, state] of users) {
    const item = document.createElement("li");
    item.dataset.user = user;
    const name = document.createElement("strong");
    name.textContent = user;
    const meta = state.meta && Object.keys(state.meta).length ? " " + JSON.stringify(state.meta) : "";
    item.append(name, " " + state.status + (state.connections > 1 ? " (" + state.connections + " connections)" : "") + meta);
    list.appendChild(item);
  }
  $("nobody").hidden = users.length > 0;
}

function row(change) {
  if (change.operation === "MESSAGE" || change.operation === "BROADCAST") return messageRow(change);
  const tr = document.createElement("tr");
  tr.dataset.id = String(change.id);
  tr.dataset.op = change.operation;
  tr.dataset.table = change.schema + "." + change.table;
  cell(tr, String(change.id));
  cell(tr, change.timestamp);
  cell(tr, change.operation, "op");
  cell(tr, change.schema + "." + change.table);
  const td = cell(tr, "", "row");
  if (change.operation === "UPDATE" && change.old && change.new) {
    const changed = Object.keys(change.new).filter((k) => JSON.stringify(change.old[k]) !== JSON.stringify(change.new[k]));
    const list = document.createElement("ul");
    list.className = "changed";
    for (const key of changed) {
      const item = document.createElement("li");
      const name = document.createElement("code");
      name.textContent = key + ": ";
      const before = document.createElement("del");
      before.textContent = clip(JSON.stringify(change.old[key]));
      const after = document.createElement("ins");
      after.textContent = clip(JSON.stringify(change.new[key]));
      item.append(name, before, " → ", after);
      list.appendChild(item);
    }
    if (changed.length === 0) {
      const item = document.createElement("li");
      item.textContent = "no column changed";
      list.appendChild(item);
    }
    td.appendChild(list);
  }
  value(td, change.new ?? change.old);
  return tr;
}
/// A channel's message (with its id) or ephemeral event (without one): event, sender, payload.
function messageRow(message) {
  const tr = document.createElement("tr");
  tr.dataset.id = String(message.id);
  tr.dataset.op = message.operation;
  tr.dataset.table = message.channel;
  cell(tr, message.operation === "MESSAGE" ? String(message.id) : "–");
  cell(tr, message.timestamp);
  cell(tr, message.operation === "MESSAGE" ? "MESSAGE" : "EPHEMERAL", "op");
  cell(tr, "#" + message.channel);
  const td = cell(tr, "", "row");
  const what = document.createElement("div");
  const name = document.createElement("code");
  name.textContent = message.event;
  what.append(name, message.sender ? " from " + message.sender : "");
  td.appendChild(what);
  value(td, message.payload);
  return tr;
}
function clip(text) { return text === undefined ? "(none)" : text.length > 200 ? text.slice(0, 200) + "…" : text; }

function query() {
  const query = new URLSearchParams($("filter").value.trim());
  const chosen = [...document.querySelectorAll("#events input:checked")].map((input) => input.value);
  if (chosen.length < operations.length) query.set("events", chosen.join(","));
  return query;
}

/// Where to start: `since` as typed (an id, or a time the server turns into one), else live.
async function start() {
  const text = $("since").value.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text);
  const response = await fetch("/v1/position?at=" + encodeURIComponent(text), { headers: headers("application/json") });
  if (!response.ok) throw new Error(await failure(response));
  return (await response.json()).since;
}

function stopAll() { for (const stream of page.streams) stream.stop(); }

/// The streams of a view; while paused they wait, with their cursors, for resume.
function open(tables, query, cursors) {
  stopAll();
  page.streams = tables.map((table) => new Stream(table, query, cursors(table)));
  if (!page.paused) for (const stream of page.streams) stream.run();
  showState();
}

async function loadTables() {
  const response = await fetch("/v1/tables", { headers: headers("application/json") });
  if (!response.ok) throw new Error(await failure(response));
  page.tables = (await response.json()).tables;
  // Channels are listed when the server has them (an older schema has none: no list).
  const channels = await fetch("/v1/channels", { headers: headers("application/json") }).catch(() => null);
  page.channels = channels && channels.ok ? (await channels.json()).channels : [];
  const select = $("table"), chosen = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const group of [...select.querySelectorAll("optgroup")]) group.remove();
  for (const table of page.tables) select.add(new Option(table.table, table.table));
  if (page.channels.length) {
    const group = document.createElement("optgroup");
    group.label = "Channels";
    for (const channel of page.channels) group.appendChild(new Option("#" + channel.name + " (" + channel.type + ", " + channel.online + " online)", "channel:" + channel.name));
    select.appendChild(group);
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  describeColumns();
}

function describeColumns() {
  const chosen = $("table").value;
  if (chosen.startsWith("channel:")) {
    $("columns").textContent = "Channel " + chosen.slice(8) + ": its messages, ephemeral events and presence; events and row filters apply to tables only.";
    return;
  }
  const table = page.tables.find((t) => t.table === chosen);
  $("columns").textContent = table ? "Columns of " + table.table + ": " + table.columns.map((c) => c.name + " (" + c.type + ")").join(", ") : "";
}

async function apply() {
  // The old view ends at once: nothing it still receives is drawn under the new one.
  stopAll();
  page.streams = [];
  $("rows").replaceChildren(); page.queue = []; page.dropped = 0;
  page.errors.clear(); showErrors();
  page.paused = false; $("pause").textContent = "Pause";
  // A later Apply wins over one still waiting for the server.
  const generation = page.generation = (page.generation || 0) + 1;
  page.applying += 1;
  showState();
  try {
    await loadTables();
    const chosen = $("table").value;
    page.presence = null;
    $("presence").hidden = !chosen.startsWith("channel:");
    showPresence();
    const live = $("live").checked;
    $("live-view").hidden = !live;
    $("changes").hidden = live;
    if (live) {
      // A live query: one table, every kind of change, from the rows as they are now.
      if (!chosen || chosen.startsWith("channel:")) { setError("", "the live table shows one table: choose it above"); return; }
      const described = page.tables.find((t) => t.table === chosen);
      stopAll();
      page.streams = [new LiveTable(chosen, new URLSearchParams($("filter").value.trim()), described)];
      if (!page.paused) page.streams[0].run();
      showState();
      return;
    }
    let tables = chosen ? [chosen] : page.tables.map((t) => t.table);
    if (tables.length === 0) { setError("", "no table is subscribed yet: run pgrelay subscribe <schema.table>"); return; }
    if (tables.length > maxStreams) {
      setError("", "showing the first " + maxStreams + " of " + tables.length + " tables (a browser opens few connections to one server); choose a table for the others");
      tables = tables.slice(0, maxStreams);
    }
    const since = await start();
    if (generation === page.generation) open(tables, query(), () => since);
  } catch (error) {
    if (generation === page.generation) setError("", error.message || String(error));
  } finally {
    page.applying -= 1;
    showState();
  }
}

function pause() {
  if (!page.paused) {
    page.paused = true;
    stopAll();
    $("pause").textContent = "Resume";
  } else {
    page.paused = false;
    $("pause").textContent = "Pause";
    // The live table resumes its changes from its cursor, its rows kept.
    if (page.streams[0] instanceof LiveTable) { page.streams[0].stopped = false; page.streams[0].run(); showState(); return; }
    // Each stream again from its own cursor: what was written while paused follows.
    const cursors = new Map(page.streams.map((s) => [s.table, s.cursor]));
    const tables = page.streams.filter((s) => !s.failed).map((s) => s.table);
    open(tables, page.streams[0] ? page.streams[0].query : query(), (table) => cursors.get(table) ?? null);
  }
  showState();
}

$("controls").addEventListener("submit", (event) => { event.preventDefault(); apply(); });
$("pause").addEventListener("click", pause);
$("clear").addEventListener("click", () => { $("rows").replaceChildren(); page.queue = []; page.total = 0; page.dropped = 0; });
$("table").addEventListener("change", describeColumns);
setInterval(() => { $("rate").textContent = String(page.second); page.second = 0; }, 1000);
requestAnimationFrame(render);
apply();
})();