// A stand-in for Microsoft's and Google's sign-in and drive APIs, which cannot be reached from
// here, speaking their wire formats as documented: the OAuth 2 authorization endpoint (which
// consents at once and redirects back with a code), the token endpoint (authorization_code with
// PKCE S256 checked, refresh_token, `invalid_grant`), Microsoft Graph (`/me/drive`, the app
// folder, `createUploadSession` and its `Content-Range` PUTs, `/content` answering 302 to a
// pre-authenticated URL, DELETE) and Google Drive v3 (`about`, `files.list` with the `q` forms
// DocuVault sends, folder creation, resumable uploads answering 308, `alt=media`, DELETE).
// Expired access tokens get 401; `POST /_control/throttle` makes the next requests get 429 with
// `Retry-After`. Files are kept in memory. Used by the Rust tests (crates/api/tests/api/
// cloud_oauth.rs) and the Chromium run (bench/e2e.py).
//
// Prints its base URL on the first line of stdout. Graph is at <base>/v1.0, Google's API at
// <base>/google; sign-in at <base>/{onedrive,google}/{authorize,token}.
import http from "node:http";
import crypto from "node:crypto";

const CLIENT_ID = process.env.CLIENT_ID ?? "docuvault-test";
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? "";
const TOKEN_TTL = Number(process.env.TOKEN_TTL ?? 3600);
const ACCOUNT = process.env.ACCOUNT ?? "ada@example.org";
const GRAPH_CHUNK = 320 * 1024;
const GOOGLE_CHUNK = 256 * 1024;

let base = "";
const codes = new Map(); // code -> {flavor, challenge, redirect, used}
const access = new Map(); // token -> {flavor, expires}
const refresh = new Map(); // token -> {flavor, revoked}
const graphFiles = new Map(); // path in the app folder -> Buffer
const graphSessions = new Map(); // id -> {path, total, parts: Buffer[], received}
const downloads = new Map(); // one-time-ish token -> path
const gFiles = new Map(); // id -> {name, mimeType, parents, appProperties, data}
const gSessions = new Map(); // id -> {meta, parts, received}
const stats = { code_grants: 0, refresh_grants: 0, refused_tokens: 0, throttled: 0, bearer_on_session: 0 };
let throttle = { count: 0, match: "", retryAfter: 1 };

const rid = () => crypto.randomBytes(12).toString("hex");
const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");

function send(res, status, body, headers = {}) {
  const json = body === undefined ? "" : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const h = { ...headers };
  if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== "string") h["content-type"] = "application/json";
  res.writeHead(status, h);
  res.end(json);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

function graphError(res, status, code, message, headers) {
  send(res, status, { error: { code, message } }, headers);
}

function googleError(res, status, message, headers) {
  send(res, status, { error: { code: status, message, errors: [{ message }] } }, headers);
}

/** The flavor's bearer token is valid: the token's record, or an answer was sent. */
function authorized(req, res, flavor) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
  const t = m && access.get(m[1]);
  if (!t || t.flavor !== flavor || t.expires < Date.now()) {
    stats.refused_tokens++;
    if (flavor === "onedrive") graphError(res, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
    else googleError(res, 401, "Request had invalid authentication credentials.");
    return false;
  }
  return true;
}

function serveRange(req, res, data) {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  if (!m) return send(res, 200, data, { "content-length": data.length });
  const start = Number(m[1]);
  const end = m[2] === "" ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
  if (start > end) return send(res, 416, "", { "content-range": `bytes */${data.length}` });
  send(res, 206, data.subarray(start, end + 1), {
    "content-range": `bytes ${start}-${end}/${data.length}`,
    "content-length": end - start + 1,
  });
}

// ---- OAuth 2 -------------------------------------------------------------------------------

function authorize(res, url, flavor) {
  const q = url.searchParams;
  const redirect = q.get("redirect_uri");
  if (q.get("client_id") !== CLIENT_ID || !redirect) return send(res, 400, "unknown client or no redirect_uri");
  if (q.get("response_type") !== "code") return send(res, 400, "response_type must be code");
  if (q.get("code_challenge_method") !== "S256" || !q.get("code_challenge")) return send(res, 400, "PKCE S256 is required");
  const scope = q.get("scope") ?? "";
  const wanted = flavor === "onedrive" ? "offline_access" : "drive.file";
  const back = new URL(redirect);
  back.searchParams.set("state", q.get("state") ?? "");
  if (!scope.includes(wanted)) {
    back.searchParams.set("error", "invalid_scope");
  } else {
    const code = rid();
    codes.set(code, { flavor, challenge: q.get("code_challenge"), redirect, used: false });
    back.searchParams.set("code", code);
  }
  send(res, 302, "", { location: back.toString() });
}

function issue(flavor, refreshToken) {
  const token = `${flavor}-access-${rid()}`;
  access.set(token, { flavor, expires: Date.now() + TOKEN_TTL * 1000 });
  return { access_token: token, token_type: "Bearer", expires_in: TOKEN_TTL, refresh_token: refreshToken };
}

async function token(req, res, flavor) {
  const form = new URLSearchParams((await readBody(req)).toString());
  const refuse = (error, description) => send(res, 400, { error, error_description: description });
  if (form.get("client_id") !== CLIENT_ID) return send(res, 401, { error: "invalid_client" });
  if (CLIENT_SECRET && form.get("client_secret") !== CLIENT_SECRET) return send(res, 401, { error: "invalid_client" });
  if (form.get("grant_type") === "authorization_code") {
    const c = codes.get(form.get("code") ?? "");
    if (!c || c.used || c.flavor !== flavor) return refuse("invalid_grant", "unknown or used code");
    c.used = true;
    if (form.get("redirect_uri") !== c.redirect) return refuse("invalid_grant", "redirect_uri differs");
    const verifier = form.get("code_verifier") ?? "";
    const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
    if (challenge !== c.challenge) return refuse("invalid_grant", "PKCE verification failed");
    stats.code_grants++;
    const r = `${flavor}-refresh-${rid()}`;
    refresh.set(r, { flavor, revoked: false });
    return send(res, 200, issue(flavor, r));
  }
  if (form.get("grant_type") === "refresh_token") {
    const old = form.get("refresh_token") ?? "";
    const r = refresh.get(old);
    if (!r || r.revoked || r.flavor !== flavor) {
      return refuse("invalid_grant", flavor === "onedrive"
        ? "AADSTS70000: The provided grant has expired due to it being revoked."
        : "Token has been expired or revoked.");
    }
    stats.refresh_grants++;
    if (flavor === "onedrive") {
      // Microsoft rotates refresh tokens: the old one is spent.
      r.revoked = true;
      const next = `${flavor}-refresh-${rid()}`;
      refresh.set(next, { flavor, revoked: false });
      return send(res, 200, issue(flavor, next));
    }
    const { refresh_token: _, ...rest } = issue(flavor, undefined);
    return send(res, 200, rest);
  }
  return refuse("unsupported_grant_type", "");
}

// ---- Microsoft Graph -----------------------------------------------------------------------

/** `/v1.0/me/drive/special/approot:/a/b.pdf:/content` -> ["a/b.pdf", "/content"]. */
function approotPath(pathname) {
  const m = /^\/v1\.0\/me\/drive\/special\/approot:\/(.*?)(?::(\/[A-Za-z]+)?)?$/.exec(pathname);
  if (!m) return null;
  return [m[1].split("/").map(decodeURIComponent).join("/"), m[2] ?? ""];
}

function driveItem(path, data) {
  return { id: sha256(path).slice(0, 16), name: path.split("/").pop(), size: data.length, file: {} };
}

async function graph(req, res, url) {
  const p = url.pathname;
  if (p.startsWith("/v1.0/") && !authorized(req, res, "onedrive")) return;
  if (req.method === "GET" && p === "/v1.0/me/drive") {
    return send(res, 200, { id: "drive-1", driveType: "personal", owner: { user: { displayName: ACCOUNT, id: "u1" } } });
  }
  if (req.method === "GET" && p === "/v1.0/me/drive/special/approot") {
    return send(res, 200, { id: "approot", name: "DocuVault", folder: { childCount: graphFiles.size } });
  }
  const item = approotPath(p);
  if (!item) return graphError(res, 400, "invalidRequest", `unknown path ${p}`);
  const [path, suffix] = item;
  if (req.method === "POST" && suffix === "/createUploadSession") {
    const id = rid();
    graphSessions.set(id, { path, total: null, parts: [], received: 0 });
    return send(res, 200, {
      uploadUrl: `${base}/graph-upload/${id}`,
      expirationDateTime: new Date(Date.now() + 3600_000).toISOString(),
    });
  }
  if (req.method === "PUT" && suffix === "/content") {
    const data = await readBody(req);
    graphFiles.set(path, data);
    return send(res, 201, driveItem(path, data));
  }
  if (req.method === "GET" && suffix === "/content") {
    if (!graphFiles.has(path)) return graphError(res, 404, "itemNotFound", "The resource could not be found.");
    const t = rid();
    downloads.set(t, path);
    return send(res, 302, "", { location: `${base}/graph-download/${t}` });
  }
  if (req.method === "DELETE" && suffix === "") {
    if (!graphFiles.delete(path)) return graphError(res, 404, "itemNotFound", "The resource could not be found.");
    return send(res, 204);
  }
  return graphError(res, 400, "invalidRequest", `unsupported ${req.method} ${p}`);
}

async function graphUpload(req, res, id) {
  const s = graphSessions.get(id);
  if (!s) return graphError(res, 404, "itemNotFound", "The upload session was not found.");
  if (req.method === "DELETE") {
    graphSessions.delete(id);
    return send(res, 204);
  }
  if (req.headers.authorization) {
    // Graph: "Including the Authorization header when issuing the PUT call may result in an
    // HTTP 401 Unauthorized response."
    stats.bearer_on_session++;
    return graphError(res, 401, "unauthenticated", "the upload URL takes no Authorization header");
  }
  const body = await readBody(req);
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(req.headers["content-range"] ?? "");
  if (!m) return graphError(res, 400, "invalidRange", "Content-Range bytes a-b/total is required");
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (start !== s.received || end - start + 1 !== body.length || (s.total !== null && s.total !== total)) {
    return graphError(res, 416, "invalidRange", `expected bytes from ${s.received}`);
  }
  const last = end + 1 === total;
  if (!last && body.length % GRAPH_CHUNK !== 0) {
    return graphError(res, 400, "invalidRange", "fragments must be a multiple of 320 KiB");
  }
  s.total = total;
  s.parts.push(body);
  s.received += body.length;
  if (!last) {
    return send(res, 202, {
      expirationDateTime: new Date(Date.now() + 3600_000).toISOString(),
      nextExpectedRanges: [`${s.received}-`],
    });
  }
  const data = Buffer.concat(s.parts);
  graphSessions.delete(id);
  graphFiles.set(s.path, data);
  return send(res, 201, driveItem(s.path, data));
}

// ---- Google Drive v3 -----------------------------------------------------------------------

function unquote(s) {
  return s.replace(/\\(.)/g, "$1");
}

function listFiles(q) {
  let m = /^appProperties has \{ key='((?:[^'\\]|\\.)*)' and value='((?:[^'\\]|\\.)*)' \} and trashed=false$/.exec(q);
  if (m) {
    const [k, v] = [unquote(m[1]), unquote(m[2])];
    return [...gFiles].filter(([, f]) => f.appProperties?.[k] === v).map(([id]) => ({ id }));
  }
  m = /^name='((?:[^'\\]|\\.)*)' and '((?:[^'\\]|\\.)*)' in parents and mimeType='([^']+)' and trashed=false$/.exec(q);
  if (m) {
    const [name, parent, mime] = [unquote(m[1]), unquote(m[2]), m[3]];
    return [...gFiles]
      .filter(([, f]) => f.name === name && f.parents.includes(parent) && f.mimeType === mime)
      .map(([id]) => ({ id }));
  }
  return null;
}

function fileResource(id) {
  const f = gFiles.get(id);
  return { kind: "drive#file", id, name: f.name, mimeType: f.mimeType, size: String(f.data?.length ?? 0) };
}

async function google(req, res, url) {
  const p = url.pathname.slice("/google".length);
  const session = url.searchParams.get("upload_id");
  if (p === "/upload/drive/v3/files" && session) return googleUpload(req, res, session);
  if (!authorized(req, res, "gdrive")) return;
  if (req.method === "GET" && p === "/drive/v3/about") {
    return send(res, 200, { user: { kind: "drive#user", displayName: "Ada", emailAddress: ACCOUNT } });
  }
  if (req.method === "GET" && p === "/drive/v3/files") {
    const files = listFiles(url.searchParams.get("q") ?? "");
    if (!files) return googleError(res, 400, `Invalid Value: q`);
    return send(res, 200, { files });
  }
  if (req.method === "POST" && p === "/drive/v3/files") {
    const meta = JSON.parse((await readBody(req)).toString() || "{}");
    const id = rid();
    gFiles.set(id, { name: meta.name, mimeType: meta.mimeType, parents: meta.parents ?? ["root"], appProperties: meta.appProperties ?? {}, data: null });
    return send(res, 200, { id });
  }
  if (req.method === "POST" && p === "/upload/drive/v3/files" && url.searchParams.get("uploadType") === "resumable") {
    const meta = JSON.parse((await readBody(req)).toString() || "{}");
    const id = rid();
    gSessions.set(id, { meta, parts: [], received: 0 });
    return send(res, 200, "", { location: `${base}/google/upload/drive/v3/files?uploadType=resumable&upload_id=${id}` });
  }
  const m = /^\/drive\/v3\/files\/([^/]+)$/.exec(p);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const f = gFiles.get(id);
    if (!f) return googleError(res, 404, `File not found: ${id}.`);
    if (req.method === "DELETE") {
      gFiles.delete(id);
      return send(res, 204);
    }
    if (req.method === "GET" && url.searchParams.get("alt") === "media") return serveRange(req, res, f.data ?? Buffer.alloc(0));
    if (req.method === "GET") return send(res, 200, fileResource(id));
  }
  return googleError(res, 400, `unsupported ${req.method} ${p}`);
}

async function googleUpload(req, res, id) {
  const s = gSessions.get(id);
  if (!s) return googleError(res, 404, "upload session not found");
  if (req.method === "DELETE") {
    gSessions.delete(id);
    return send(res, 499, "");
  }
  const body = await readBody(req);
  const range = req.headers["content-range"] ?? "";
  let m = /^bytes \*\/(\d+)$/.exec(range);
  let last;
  if (m) {
    if (body.length !== 0 || Number(m[1]) !== s.received) return googleError(res, 400, "Failed to parse Content-Range header.");
    last = true;
  } else {
    m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
    if (!m) return googleError(res, 400, "Failed to parse Content-Range header.");
    const [start, end] = [Number(m[1]), Number(m[2])];
    if (start !== s.received || end - start + 1 !== body.length) return googleError(res, 400, "Invalid request. The number of bytes uploaded is required to be equal or greater than 262144, except for the final request.");
    last = m[3] !== "*" && Number(m[3]) === end + 1;
    if (!last && body.length % GOOGLE_CHUNK !== 0) return googleError(res, 400, "chunks must be a multiple of 256 KiB");
    s.parts.push(body);
    s.received += body.length;
  }
  if (!last) return send(res, 308, "", { range: `bytes=0-${s.received - 1}` });
  gSessions.delete(id);
  const fid = rid();
  gFiles.set(fid, {
    name: s.meta.name, mimeType: req.headers["x-upload-content-type"] ?? "application/octet-stream",
    parents: s.meta.parents ?? ["root"], appProperties: s.meta.appProperties ?? {}, data: Buffer.concat(s.parts),
  });
  return send(res, 200, fileResource(fid));
}

/** A Google file's readable path: its folders' names down from `root`. */
function gPath(f) {
  const names = [f.name];
  let parent = f.parents[0];
  while (parent && parent !== "root" && gFiles.has(parent)) {
    const d = gFiles.get(parent);
    names.unshift(d.name);
    parent = d.parents[0];
  }
  return names.join("/");
}

// ---- control (for the tests) ---------------------------------------------------------------

async function control(req, res, url) {
  const what = url.pathname.slice("/_control/".length);
  if (what === "files") {
    const onedrive = [...graphFiles].map(([path, d]) => ({ path, size: d.length, sha256: sha256(d) }));
    const gdrive = [...gFiles.values()].filter((f) => f.data).map((f) => ({ path: gPath(f), size: f.data.length, sha256: sha256(f.data) }));
    return send(res, 200, { onedrive, gdrive, sessions: graphSessions.size + gSessions.size });
  }
  if (what === "stats") return send(res, 200, stats);
  if (what === "expire") {
    for (const t of access.values()) t.expires = 0;
    return send(res, 204);
  }
  if (what === "revoke") {
    for (const r of refresh.values()) r.revoked = true;
    for (const t of access.values()) t.expires = 0;
    return send(res, 204);
  }
  if (what === "throttle") {
    throttle = { retryAfter: 1, ...JSON.parse((await readBody(req)).toString() || "{}") };
    return send(res, 204);
  }
  return send(res, 404, "");
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    const p = url.pathname;
    if (p.startsWith("/_control/")) return await control(req, res, url);
    if (throttle.count > 0 && p.includes(throttle.match) && !p.includes("/token") && !p.includes("/authorize")) {
      throttle.count--;
      stats.throttled++;
      const h = { "retry-after": String(throttle.retryAfter) };
      return p.startsWith("/google")
        ? googleError(res, 429, "User Rate Limit Exceeded", h)
        : graphError(res, 429, "activityLimitReached", "The app or user has been throttled.", h);
    }
    if (p === "/onedrive/authorize") return authorize(res, url, "onedrive");
    if (p === "/google/authorize") return authorize(res, url, "gdrive");
    if (p === "/onedrive/token" && req.method === "POST") return await token(req, res, "onedrive");
    if (p === "/google/token" && req.method === "POST") return await token(req, res, "gdrive");
    if (p.startsWith("/graph-upload/")) return await graphUpload(req, res, p.slice("/graph-upload/".length));
    if (p.startsWith("/graph-download/")) {
      const path = downloads.get(p.slice("/graph-download/".length));
      if (!path || !graphFiles.has(path)) return send(res, 404, "");
      if (req.headers.authorization) return send(res, 400, "pre-authenticated URLs take no token");
      return serveRange(req, res, graphFiles.get(path));
    }
    if (p.startsWith("/v1.0/")) return await graph(req, res, url);
    if (p.startsWith("/google/")) return await google(req, res, url);
    send(res, 404, "");
  } catch (e) {
    send(res, 500, { error: { message: String(e) } });
  }
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  base = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${base}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
