// Switchyard playground: create a run, follow it with a native EventSource.
//
// Everything the page shows comes from the run's event stream:
//   metadata         run id
//   delta[|ns]       RFC 6902 ops, applied to rebuild each namespace's state
//   custom[|ns]      {"type": "route", ...} is the router's decision
//   messages[|ns]    [chunk, metadata]: tokens
//   tasks[|ns]       node start / finish, for the timeline
//   updates[|ns]     what each node wrote (and interrupts)
//   progress         steps done, and a fraction where the graph's shape knows it
//   error, end       the run is over: close, or the browser reconnects forever
//
// Subgraph events are named "mode|node:task_id". EventSource has no wildcard
// listener, so the page asks for the "tasks" mode too: a task's start event
// names its namespace ("node:task_id") before any event of that namespace is
// sent, and the listeners for it are added right then.
//
// Auth: with a key signed in (kept in sessionStorage), every fetch sends it as
// X-Api-Key. An EventSource cannot send headers, so the stream URL carries the
// run-scoped ?stream_token= the run's creation answered with; if the browser's
// own reconnect is refused (the token expired), the page asks for a new token
// and reopens the stream after the last event it has.
//
// Resume: on a dropped connection the browser reconnects by itself and sends
// Last-Event-ID; the server replays what came after it. Ids of one run
// increase strictly, so any event at or below the last one accepted is a
// duplicate and is dropped (and counted, so a server bug stays visible).

import { applyPatch } from "./patch.js";

const STREAM_MODES = ["delta", "custom", "messages-tuple", "updates", "tasks", "progress"];
const WIRE_MODES = ["delta", "custom", "messages", "updates", "tasks", "progress"];
const MAX_LOG_ROWS = 2000;

const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function preview(value, limit = 160) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

// -- HTTP -------------------------------------------------------------------

class ApiError extends Error {}
class AuthRequired extends ApiError {}

const KEY_STORAGE = "switchyard.apiKey";
const credentials = {
  key: sessionStorage.getItem(KEY_STORAGE),
  headers() {
    return this.key ? { "X-Api-Key": this.key } : {};
  },
  set(key) {
    this.key = key || null;
    if (this.key) sessionStorage.setItem(KEY_STORAGE, this.key);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
};

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json", ...credentials.headers() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text.trim() ? JSON.parse(text) : null;
  if (response.status === 401) {
    document.body.dataset.auth = "required";
    throw new AuthRequired(`sign in with an API key (${data?.detail ?? text})`);
  }
  if (!response.ok) {
    throw new ApiError(`${method} ${path} → ${response.status}: ${data?.detail ?? text}`);
  }
  return data;
}

const banner = {
  show(message) {
    const node = $("#banner");
    node.textContent = message;
    node.hidden = false;
  },
  clear() {
    $("#banner").hidden = true;
    $("#banner").textContent = "";
  },
};

// -- event ids ----------------------------------------------------------------

// "1700000000000-3" -> [1700000000000, 3]
function parseId(id) {
  const match = /^(\d+)-(\d+)$/.exec(id);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

function compareIds(a, b) {
  const [x, y] = [parseId(a), parseId(b)];
  if (x === null || y === null) return a === b ? 0 : 1;
  return x[0] - y[0] || x[1] - y[1];
}

// -- the connection pill ------------------------------------------------------

// state is what the page says; readyState is the EventSource's own
// (0 connecting, 1 open, 2 closed), kept next to it so neither can drift.
const connection = {
  set(state, source) {
    $("#connection").dataset.state = state;
    $("#connection").dataset.readyState = source ? String(source.readyState) : "";
    $("#conn-status").textContent = state;
  },
};

// -- panels -------------------------------------------------------------------

function namespaceLabel(ns) {
  // ["inner:7ff2…", "child:ab12…"] -> "inner › child"
  return ns.map((part) => part.split(":")[0]).join(" › ");
}

function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (typeof part === "string" ? part : part?.type === "text" ? part.text : ""))
      .join("");
  }
  return "";
}

class RunPanels {
  constructor() {
    this.messages = new Map(); // message id -> <p>
    this.tasks = new Map(); // task id -> timeline row
    this.substates = new Map(); // namespace key -> <pre>
    this.logRows = 0;
    $("#output").replaceChildren();
    $("#timeline").replaceChildren();
    $("#events").replaceChildren();
    $("#substates").replaceChildren();
    $("#route-facts").hidden = true;
    $("#route-empty").hidden = false;
  }

  log(id, name, data) {
    this.logRows += 1;
    if (this.logRows > MAX_LOG_ROWS) return;
    const row = el(
      "li",
      { dataset: { id, event: name } },
      el("code", { class: "id", text: id }),
      el("span", { class: "name", text: name }),
      el("span", { class: "data", text: preview(data) }),
    );
    $("#events").append(row);
  }

  route(decision) {
    $("#route-empty").hidden = true;
    $("#route-facts").hidden = false;
    $("#route-target").textContent = decision.target ?? "";
    $("#route-source").textContent = decision.source ?? "";
    const confidence = Number(decision.confidence);
    $("#route-meter").value = Number.isFinite(confidence) ? confidence : 0;
    $("#route-confidence").textContent = Number.isFinite(confidence)
      ? confidence.toFixed(2)
      : String(decision.confidence);
    $("#route-reason").textContent = decision.reason ?? "";
    this.note([], "route", `→ ${decision.target}`);
  }

  token(chunk, meta) {
    if (!chunk || !String(chunk.type ?? "").startsWith("AI")) return;
    const text = contentText(chunk.content);
    const key = chunk.id ?? "(no id)";
    let paragraph = this.messages.get(key);
    if (paragraph === undefined) {
      paragraph = el("p", { class: "message", dataset: { messageId: key } });
      const node = meta?.langgraph_node;
      if (node) paragraph.append(el("span", { class: "who", text: node }));
      this.messages.set(key, paragraph);
      $("#output").append(paragraph);
    }
    if (text) paragraph.append(el("span", { class: "token", text }));
  }

  taskStarted(ns, task) {
    const row = el(
      "li",
      { class: "task", dataset: { status: "running", node: task.name, ns: namespaceLabel(ns) } },
      el("span", { class: "marker", "aria-hidden": "true" }),
      el("span", { class: "ns", text: ns.length ? `${namespaceLabel(ns)} ›` : "" }),
      el("span", { class: "node", text: task.name }),
      el("span", { class: "detail", text: "running" }),
    );
    if (ns.length) row.title = ns.join(" | ");
    this.tasks.set(task.id, row);
    $("#timeline").append(row);
  }

  taskFinished(ns, task) {
    const row = this.tasks.get(task.id);
    if (row === undefined) return;
    const interrupted = Array.isArray(task.interrupts) && task.interrupts.length > 0;
    const status = task.error ? "error" : interrupted ? "interrupted" : "done";
    row.dataset.status = status;
    const result = task.result && typeof task.result === "object" ? task.result : {};
    const wrote = Object.keys(result);
    const detail = task.error
      ? preview(task.error)
      : interrupted
        ? `interrupted: ${preview(task.interrupts[0]?.value ?? task.interrupts[0])}`
        : wrote.length
          ? `wrote ${wrote.join(", ")}`
          : "done";
    row.querySelector(".detail").textContent = detail;
  }

  note(ns, kind, text) {
    $("#timeline").append(
      el(
        "li",
        { class: "note", dataset: { kind, ns: namespaceLabel(ns) } },
        el("span", { class: "marker", "aria-hidden": "true" }),
        el("span", { class: "ns", text: ns.length ? `${namespaceLabel(ns)} ›` : "" }),
        el("span", { class: "node", text: kind }),
        el("span", { class: "detail", text }),
      ),
    );
  }

  state(ns, value) {
    const text = JSON.stringify(value, null, 2);
    if (ns.length === 0) {
      $("#state").textContent = text;
      return;
    }
    const key = ns.join("|");
    let pre = this.substates.get(key);
    if (pre === undefined) {
      pre = el("pre", { dataset: { ns: key } });
      const box = el(
        "details",
        { class: "substate" },
        el("summary", { text: `subgraph ${namespaceLabel(ns)}`, title: key }),
        pre,
      );
      this.substates.set(key, pre);
      $("#substates").append(box);
    }
    pre.textContent = text;
  }
}

// -- following one run ----------------------------------------------------------

class RunFollower {
  constructor({ threadId, runId, streamToken, initialState, onDone }) {
    this.path = `/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}`;
    this.url = `${this.path}/stream`;
    if (streamToken) this.url += `?stream_token=${encodeURIComponent(streamToken)}`;
    this.streamToken = streamToken;
    this.tokenRenewals = 0;
    this.onDone = onDone;
    this.panels = new RunPanels();
    this.states = new Map([["", initialState ?? null]]);
    this.panels.state([], initialState ?? null);
    this.listening = new Set();
    this.connection = 0; // increases on every (re)open
    this.lastId = null;
    this.lastIdConnection = -1;
    this.accepted = 0;
    this.duplicates = 0;
    this.opens = 0;
    this.lastActivity = null;
    this.finished = false;
  }

  start() {
    this.listening = new Set();
    this.namespaces ??= [];
    this.source = new EventSource(this.url);
    connection.set("connecting", this.source);
    this.source.addEventListener("open", () => this.opened());
    // "error" is both the browser's connection error (a plain Event) and the
    // server's error event (a MessageEvent): see receive().
    for (const name of ["metadata", "error", "end", ...WIRE_MODES]) this.listen(name);
    for (const ns of this.namespaces) this.listenNamespace(ns);
    this.ticker = setInterval(() => this.showAge(), 250);
  }

  listen(name) {
    if (this.listening.has(name)) return;
    this.listening.add(name);
    this.source.addEventListener(name, (event) => this.receive(event));
  }

  listenNamespace(ns) {
    const suffix = ns.join("|");
    if (!this.namespaces.some((known) => known.join("|") === suffix)) this.namespaces.push(ns);
    for (const mode of WIRE_MODES) this.listen(`${mode}|${suffix}`);
  }

  opened() {
    this.connection += 1;
    this.opens += 1;
    this.lastActivity = performance.now();
    $("#reconnects").textContent = String(this.opens - 1);
    if (this.opens > 1) {
      this.panels.note([], "reconnected", `resuming after event ${this.lastId ?? "(none)"}`);
    }
    connection.set("open", this.source);
  }

  connectionError() {
    if (this.finished) return;
    if (this.source.readyState === EventSource.CONNECTING) {
      connection.set("reconnecting", this.source);
    } else if (this.streamToken && this.tokenRenewals < 3) {
      // The browser's reconnect was refused: most likely the token expired.
      this.renewToken().catch((error) => this.finish("closed", error.message));
    } else {
      this.finish("closed", "the stream failed and the browser gave up on it");
    }
  }

  async renewToken() {
    this.tokenRenewals += 1;
    connection.set("reconnecting", this.source);
    const grant = await api("POST", `${this.path}/stream-token`);
    const after = this.lastId ? `&last_event_id=${encodeURIComponent(this.lastId)}` : "";
    this.url = grant.stream_url + after;
    this.source.close();
    clearInterval(this.ticker);
    this.start();
  }

  // True if the event is new; false for a duplicate delivered again after a
  // reconnect. An event without an id keeps the previous lastEventId, which is
  // fine on the connection that accepted that id; terminal events always pass.
  isNew(event) {
    const id = event.lastEventId;
    const terminal = event.type === "end" || event.type === "error";
    const fresh =
      this.lastId === null ||
      compareIds(id, this.lastId) > 0 ||
      (id === this.lastId && this.lastIdConnection === this.connection) ||
      terminal;
    if (!fresh) {
      this.duplicates += 1;
      $("#dup-count").textContent = String(this.duplicates);
      return false;
    }
    if (id && id !== this.lastId) {
      this.lastId = id;
      this.lastIdConnection = this.connection;
    }
    return true;
  }

  receive(event) {
    if (!(event instanceof MessageEvent)) {
      this.connectionError();
      return;
    }
    if (this.finished || !this.isNew(event)) return;
    this.accepted += 1;
    this.lastActivity = performance.now();
    $("#event-count").textContent = String(this.accepted);
    const data = JSON.parse(event.data);
    this.panels.log(event.lastEventId, event.type, data);
    const [mode, ...ns] = event.type.split("|");
    try {
      this.handle(mode, ns, data);
    } catch (error) {
      banner.show(`could not apply ${event.type} ${event.lastEventId}: ${error.message}`);
      console.error(error);
    }
  }

  handle(mode, ns, data) {
    switch (mode) {
      case "metadata":
        $("#run-id").textContent = data.run_id;
        break;
      case "delta": {
        const key = ns.join("|");
        const state = applyPatch(this.states.get(key) ?? null, data.ops);
        this.states.set(key, state);
        this.panels.state(ns, state);
        break;
      }
      case "custom":
        if (data && data.type === "route") this.panels.route(data);
        else this.panels.note(ns, "custom", preview(data));
        break;
      case "messages":
        this.panels.token(data[0], data[1]);
        break;
      case "tasks":
        if ("triggers" in data || "input" in data) {
          this.listenNamespace([...ns, `${data.name}:${data.id}`]);
          this.panels.taskStarted(ns, data);
        } else {
          this.panels.taskFinished(ns, data);
        }
        break;
      case "progress":
        showProgress(data);
        break;
      case "updates":
        for (const [node, update] of Object.entries(data ?? {})) {
          if (node === "__interrupt__") this.panels.note(ns, "interrupt", preview(update));
        }
        break;
      case "error":
        this.panels.note(ns, "error", `${data.error}: ${data.message}`);
        this.finish("closed", `run failed: ${data.error}: ${data.message}`);
        break;
      case "end":
        this.finish("closed");
        break;
      default:
        break;
    }
  }

  showAge() {
    if (this.lastActivity === null) return;
    const seconds = (performance.now() - this.lastActivity) / 1000;
    $("#activity-age").textContent = `${seconds.toFixed(1)} s ago`;
  }

  // Forget this run: no more events, no more ticking age.
  stop() {
    this.finished = true;
    this.source.close();
    clearInterval(this.ticker);
  }

  finish(state, problem) {
    if (this.finished) return;
    this.finished = true;
    this.source.close();
    this.showAge();
    connection.set(state, this.source);
    if (problem) banner.show(problem);
    this.onDone();
  }
}

// Steps done; a bar only where the server knows the total (it never guesses).
function showProgress(data) {
  const bar = $("#run-progress-bar");
  const known = data && data.fraction !== null && data.fraction !== undefined;
  const steps = data ? data.steps : 0;
  const retried = data && data.retries ? `, ${data.retries} retried` : "";
  $("#run-progress-text").textContent = known
    ? `${steps} of ${data.total} steps${retried}`
    : `${steps} step${steps === 1 ? "" : "s"}${retried}`;
  bar.hidden = !known;
  if (known) bar.value = data.fraction;
}

// -- the form -------------------------------------------------------------------

const page = {
  assistants: [],
  messageInput: true,
  follower: null,
};

function selectedAssistant() {
  return page.assistants.find((a) => a.assistant_id === $("#assistant").value);
}

async function loadAssistants() {
  page.assistants = await api("POST", "/assistants/search", { limit: 100 });
  const select = $("#assistant");
  select.replaceChildren(
    ...page.assistants.map((a) =>
      el("option", { value: a.assistant_id, dataset: { graphId: a.graph_id }, text: a.name }),
    ),
  );
  const preferred =
    page.assistants.find((a) => a.graph_id === "auto") ??
    page.assistants.find((a) => a.graph_id === "chat");
  if (preferred) select.value = preferred.assistant_id;
  await assistantChanged();
}

// A flow with params is a template: the page offers its params, defaults filled in.
async function showFlowParams(assistant) {
  const box = $("#flow-params-box");
  box.hidden = true;
  if (assistant.metadata?.created_by !== "flow") return;
  const flow = await api("GET", `/flows/${encodeURIComponent(assistant.graph_id)}`);
  const params = flow?.document?.params ?? {};
  const names = Object.keys(params);
  if (!names.length) return;
  const defaults = Object.fromEntries(
    names.filter((n) => "default" in params[n]).map((n) => [n, params[n].default]),
  );
  $("#flow-params").value = JSON.stringify(defaults);
  const required = names.filter((n) => !("default" in params[n]));
  $("#flow-params-hint").textContent = required.length
    ? `Required: ${required.join(", ")}.`
    : `Params: ${names.join(", ")}.`;
  box.hidden = false;
}

function readFlowParams() {
  if ($("#flow-params-box").hidden) return undefined;
  const text = $("#flow-params").value.trim();
  try {
    const params = text ? JSON.parse(text) : {};
    if (params === null || typeof params !== "object" || Array.isArray(params)) throw new Error("not an object");
    return params;
  } catch (error) {
    throw new ApiError(`flow params are not a JSON object: ${error.message}`);
  }
}

async function assistantChanged() {
  const assistant = selectedAssistant();
  if (!assistant) return;
  $("#assistant-description").textContent = assistant.description ?? "";
  await showFlowParams(assistant);
  const schemas = await api("GET", `/assistants/${encodeURIComponent(assistant.assistant_id)}/schemas`);
  const properties = schemas?.input_schema?.properties ?? {};
  page.messageInput = "messages" in properties;
  const input = $("#input");
  if (page.messageInput) {
    $("#input-label").textContent = "Message";
    input.placeholder = "Ask something…";
    if (input.dataset.mode === "json") input.value = "";
    input.classList.remove("json");
  } else {
    $("#input-label").textContent = "Input (JSON)";
    const fields = Object.keys(properties);
    input.placeholder = fields.length ? `{"${fields[0]}": …}` : "{}";
    if (input.dataset.mode !== "json") input.value = "{}";
    input.classList.add("json");
  }
  input.dataset.mode = page.messageInput ? "message" : "json";
}

function shortTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

async function loadThreads(selected) {
  const threads = await api("POST", "/threads/search", {
    limit: 50,
    sort_by: "updated_at",
    sort_order: "desc",
  });
  const select = $("#thread");
  select.replaceChildren(
    el("option", { value: "", text: "new thread" }),
    ...threads.map((t) =>
      el("option", {
        value: t.thread_id,
        text: `${t.thread_id.slice(0, 8)} · ${t.status} · ${shortTime(t.updated_at)}`,
      }),
    ),
  );
  select.value = threads.some((t) => t.thread_id === selected) ? selected : "";
}

async function fullState(threadId) {
  if (!threadId) return null;
  return await api("GET", `/threads/${encodeURIComponent(threadId)}/state`);
}

async function threadState(threadId) {
  return (await fullState(threadId))?.values ?? null;
}

async function threadChanged() {
  const state = await fullState($("#thread").value);
  $("#state").textContent = JSON.stringify(state?.values ?? null, null, 2);
  showInterrupts(state);
}

function readInput() {
  const text = $("#input").value;
  if (page.messageInput) {
    if (!text.trim()) throw new ApiError("type a message first");
    return { messages: [{ role: "user", content: text }] };
  }
  try {
    return text.trim() ? JSON.parse(text) : null;
  } catch (error) {
    throw new ApiError(`input is not valid JSON: ${error.message}`);
  }
}

async function run(event) {
  event.preventDefault();
  banner.clear();
  try {
    const input = readInput();
    const params = readFlowParams();
    let threadId = $("#thread").value;
    if (!threadId) {
      threadId = (await api("POST", "/threads", {})).thread_id;
      await loadThreads(threadId);
    }
    const config = params ? { config: { configurable: { flow_params: params } } } : {};
    await startRun(threadId, { input, ...config });
  } catch (error) {
    banner.show(error.message);
  }
}

// The thread waits at an interrupt: answer it with Command(resume=value).
async function resume() {
  banner.clear();
  const threadId = $("#thread").value;
  const text = $("#resume-value").value;
  let value = text;
  try {
    value = JSON.parse(text);
  } catch {
    // plain text is a string answer
  }
  try {
    await startRun(threadId, { command: { resume: value } });
    $("#resume-value").value = "";
  } catch (error) {
    banner.show(error.message);
  }
}

async function startRun(threadId, body) {
  const button = $("#run");
  button.disabled = true;
  $("#resume-run").disabled = true;
  try {
    const assistant = selectedAssistant();
    const initialState = await threadState(threadId);
    const created = await api("POST", `/threads/${encodeURIComponent(threadId)}/runs`, {
      assistant_id: assistant.assistant_id,
      ...body,
      stream_mode: STREAM_MODES,
      stream_subgraphs: true,
      stream_resumable: true,
    });
    showInterrupts(null);
    $("#run-id").textContent = created.run_id;
    $("#run-status").textContent = created.status;
    showProgress(created.progress);
    $("#reconnects").textContent = "0";
    $("#event-count").textContent = "0";
    $("#dup-count").textContent = "0";
    page.follower?.stop();
    page.follower = new RunFollower({
      threadId,
      runId: created.run_id,
      streamToken: created.stream_token,
      initialState,
      onDone: () => runDone(threadId, created.run_id),
    });
    page.follower.start();
  } catch (error) {
    button.disabled = false;
    $("#resume-run").disabled = false;
    throw error;
  }
}

function showInterrupts(state) {
  const pending = (state?.tasks ?? []).flatMap((task) => task.interrupts ?? []);
  $("#resume").hidden = pending.length === 0;
  $("#resume-question").textContent = pending.length ? preview(pending[0].value ?? pending[0]) : "";
}

async function runDone(threadId, runId) {
  const path = `/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}`;
  try {
    // The stream is over, but the server may store the run's final status a
    // moment after its error event: join waits for the run to be done.
    await api("GET", `${path}/join`);
    const finished = await api("GET", path);
    $("#run-status").textContent = finished.status;
    await loadThreads(threadId);
    showInterrupts(await fullState(threadId));
  } catch (error) {
    banner.show(error.message);
  } finally {
    $("#run").disabled = false;
    $("#resume-run").disabled = false;
    document.body.dataset.runsDone = String(Number(document.body.dataset.runsDone ?? 0) + 1);
  }
}

async function newThread() {
  banner.clear();
  try {
    const thread = await api("POST", "/threads", {});
    await loadThreads(thread.thread_id);
    await threadChanged();
  } catch (error) {
    banner.show(error.message);
  }
}

function guard(handler) {
  return (event) => handler(event).catch((error) => banner.show(error.message));
}

function showSignedIn() {
  $("#signed-in").textContent = credentials.key ? "signed in" : "";
}

async function load() {
  await Promise.all([loadAssistants(), loadThreads("")]);
  document.body.dataset.auth = credentials.key ? "signed-in" : "open";
  document.body.dataset.ready = "true";
}

async function signIn(event) {
  event.preventDefault();
  banner.clear();
  credentials.set($("#api-key").value.trim());
  $("#api-key").value = "";
  showSignedIn();
  try {
    await load();
  } catch (error) {
    banner.show(`could not load: ${error.message}`);
  }
}

async function init() {
  $("#sign-in").addEventListener("submit", signIn);
  showSignedIn();
  $("#run-form").addEventListener("submit", run);
  $("#assistant").addEventListener("change", guard(assistantChanged));
  $("#thread").addEventListener("change", guard(threadChanged));
  $("#new-thread").addEventListener("click", newThread);
  $("#resume-run").addEventListener("click", resume);
  $("#input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#run-form").requestSubmit();
  });
  try {
    await load();
  } catch (error) {
    banner.show(`could not load: ${error.message}`);
  }
}

init();
