import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { apiClient, type Json } from "./support/client.js";
import { useLocalNexus } from "./support/local.js";

/**
 * What the API makes of a request's body, over HTTP: who is asking is settled before any of the body is read,
 * an empty body stands for `{}`, and numbers JSON cannot hold are refused rather than stored as null.
 */
const local = useLocalNexus({ agents: [] });

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Json;
  /** Whether the server closed the connection (the request did not ask it to). */
  closedByServer: boolean;
}

/**
 * One HTTP/1.1 exchange on a socket of its own, written byte for byte: for requests `fetch` cannot make (a POST
 * with neither body nor Content-Length) or must not finish (a huge declared body, of which only a little is
 * sent). Resolves once the response is complete, or the server closes the connection.
 */
function rawRequest(head: string[], body = ""): Promise<RawReply> {
  const { hostname, port } = new URL(local.nexus.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (closedByServer: boolean) => {
      const reply = parseReply(data.toString("utf8"), closedByServer);
      if (settled || !reply) return;
      settled = true;
      socket.destroy();
      resolve(reply);
    };
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => {
      finish(true);
      if (!settled) reject(new Error(`connection closed without a complete response: ${data.toString("utf8")}`));
    });
    socket.on("error", () => undefined); // a reset after the response: "close" follows and decides
    socket.write(`${[...head, `Host: ${hostname}:${port}`].join("\r\n")}\r\n\r\n${body}`);
  });
}

function parseReply(text: string, closedByServer: boolean): RawReply | undefined {
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return undefined;
  const [statusLine = "", ...lines] = text.slice(0, split).split("\r\n");
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
  );
  const body = text.slice(split + 4);
  if (Buffer.byteLength(body) < Number(headers["content-length"] ?? Number.POSITIVE_INFINITY) && !closedByServer) {
    return undefined;
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: JSON.parse(body || "null"), closedByServer };
}

/** A POST with no body, no Content-Length and no Content-Type at all. */
const bareRequest = (path: string, key: string | null = local.nexus.adminKey) =>
  rawRequest([`POST ${path} HTTP/1.1`, ...(key ? [`Authorization: Bearer ${key}`] : []), "Connection: close"]);

/** A POST whose body is `text` exactly as given, with the given type. */
const postText = (path: string, text: string, type: string | null, key: string | null = local.nexus.adminKey) =>
  apiClient(local.nexus.url, key ?? undefined).raw("POST", path, undefined, {
    body: text,
    headers: type === null ? {} : { "content-type": type },
  });

beforeAll(async () => {
  const agent = await local.api.post("/v1/agents", {
    name: "idle",
    actions: [{ name: "work", params: { type: "object", properties: { n: { type: "number" } } } }],
  });
  expect(agent.status).toBe(201);
  expect((await local.api.post("/v1/agents", { name: "retiring", actions: [{ name: "work" }] })).status).toBe(201);
});

const queuedTask = async () => (await local.api.post("/v1/tasks", { agentId: "idle", action: "work" })).body.id;

describe("an empty body", () => {
  it("stands for {} where the operation needs nothing: cancelling a task", async () => {
    const bare = await bareRequest(`/v1/tasks/${await queuedTask()}/cancel`);
    expect(bare.status, JSON.stringify(bare.body)).toBe(200);
    expect(bare.body.status).toBe("cancelled");
    for (const type of ["application/json", "text/plain", null]) {
      const reply = await postText(`/v1/tasks/${await queuedTask()}/cancel`, "", type);
      expect(reply.status, `Content-Length: 0, type ${type}`).toBe(200);
    }
  });

  it("stands for {} when deactivating an agent and cancelling a plan", async () => {
    const deactivated = await bareRequest("/v1/agents/retiring/deactivate");
    expect(deactivated.status, JSON.stringify(deactivated.body)).toBe(200);
    expect(deactivated.body.status).toBe("inactive");
    const plan = await local.api.post("/v1/plans", { steps: [{ id: "only", agentId: "idle", action: "work" }] });
    expect(plan.status).toBe(201);
    const cancelled = await bareRequest(`/v1/plans/${plan.body.id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
  });

  it("is a 400 naming the missing body where the operation needs fields", async () => {
    const replies = [
      await bareRequest("/v1/tasks"),
      await postText("/v1/tasks", "", "application/json"),
      await postText("/v1/plans", "", null),
      await postText("/v1/schedules", "", "text/plain"),
    ];
    for (const reply of replies) {
      const label = JSON.stringify(reply.body);
      expect(reply.status, label).toBe(400);
      expect(reply.body.error.code, label).toBe("validation_error");
      expect(reply.body.error.message, label).toMatch(/body is missing/);
      expect(reply.body.error.details[0], label).toMatchObject({ path: "(body)", code: "missing_body" });
    }
  });
});

describe("a caller without a valid key", () => {
  it("gets 401 whatever its body: not JSON, malformed, nested too deep, or over the size limit", async () => {
    const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
    const bodies: Array<[string, string]> = [
      ["text", "text/plain"],
      ['{"agentId":', "application/json"],
      [`{"a":${deep}}`, "application/json"],
      [JSON.stringify({ s: "x".repeat(300_000) }), "application/json"],
    ];
    for (const [text, type] of bodies) {
      const reply = await postText("/v1/tasks", text, type, null);
      expect(reply.status, `${type} ${text.slice(0, 20)}`).toBe(401);
      expect(reply.body.error.code).toBe("unauthorized");
      expect((await postText("/v1/tasks", text, type, "nxk_bogus_key")).status).toBe(401);
    }
    expect((await bareRequest("/v1/tasks", null)).status).toBe(401);
  });

  it("gets 401 for a huge declared body without the server waiting for it: the connection is closed", async () => {
    const reply = await rawRequest(
      ["POST /v1/tasks HTTP/1.1", "Content-Type: application/json", "Content-Length: 100000000"],
      `{"agentId":"idle","action":"work","params":{"s":"${"x".repeat(1000)}`,
    );
    expect(reply.status).toBe(401);
    expect(reply.headers.connection).toBe("close");
    expect(reply.closedByServer).toBe(true);
  }, 10_000);

  it("is told apart from a caller with a key, who still gets 413 and 415", async () => {
    const huge = await postText("/v1/tasks", JSON.stringify({ s: "x".repeat(300_000) }), "application/json");
    expect(huge.status).toBe(413);
    expect((await postText("/v1/tasks", "text", "text/plain")).status).toBe(415);
  });
});

describe("a body sent in chunks (no Content-Length)", () => {
  /** A chunked POST of `text` in 16 KB chunks, with the admin key. */
  const chunked = (path: string, text: string) => {
    const chunks: string[] = [];
    for (let at = 0; at < text.length; at += 16 * 1024) {
      const chunk = text.slice(at, at + 16 * 1024);
      chunks.push(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    }
    return rawRequest(
      [
        `POST ${path} HTTP/1.1`,
        `Authorization: Bearer ${local.nexus.adminKey}`,
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "Connection: close",
      ],
      `${chunks.join("")}0\r\n\r\n`,
    );
  };

  it("is read and counted as it streams: within the limit it is taken, past it a 413 and nothing stored", async () => {
    const small = await chunked("/v1/tasks", JSON.stringify({ agentId: "idle", action: "work", params: { n: 7 } }));
    expect(small.status, JSON.stringify(small.body)).toBe(202);
    expect((small.body as { params: unknown }).params).toEqual({ n: 7 });
    const before = (await local.api.get("/v1/tasks?agentId=idle&limit=100")).body.items.length;
    const params = { s: "x".repeat(300 * 1024) };
    const huge = await chunked("/v1/tasks", JSON.stringify({ agentId: "idle", action: "work", params }));
    expect(huge.status).toBe(413);
    expect((await local.api.get("/v1/tasks?agentId=idle&limit=100")).body.items.length).toBe(before);
  }, 20_000);
});

describe("numbers JSON cannot hold", () => {
  const submit = (params: string) =>
    postText("/v1/tasks", `{"agentId":"idle","action":"work","params":${params}}`, "application/json");

  it("are refused in a task's params with a 400 naming the field, and nothing is stored", async () => {
    const before = (await local.api.get("/v1/tasks?agentId=idle&limit=100")).body.items.length;
    for (const [params, path] of [
      ['{"n":1e400}', "params.n"],
      ['{"n":-1e400}', "params.n"],
      ['{"list":[1,2e308]}', "params.list.1"],
      ['{"deep":{"er":{"n":1E999}}}', "params.deep.er.n"],
    ] as const) {
      const reply = await submit(params);
      const label = `${params}: ${JSON.stringify(reply.body)}`;
      expect(reply.status, label).toBe(400);
      expect(reply.body.error.code, label).toBe("validation_error");
      expect(reply.body.error.details, label).toContainEqual(expect.objectContaining({ path }));
    }
    expect((await local.api.get("/v1/tasks?agentId=idle&limit=100")).body.items.length).toBe(before);
  });

  it.each([
    [
      "/v1/plans",
      '{"steps":[{"id":"a","agentId":"idle","action":"work","params":{"big":1e400}}]}',
      "steps.0.params.big",
    ],
    [
      "/v1/schedules",
      '{"name":"huge","rate":"rate(1 day)","target":{"type":"task","agentId":"idle","action":"work","params":{"big":1e400}}}',
      "target.params.big",
    ],
  ])("are refused in POST %s, naming the field", async (path, body, field) => {
    const reply = await postText(path, body, "application/json");
    expect(reply.status, JSON.stringify(reply.body)).toBe(400);
    expect(reply.body.error.details).toContainEqual(expect.objectContaining({ path: field }));
  });

  it("leave large finite numbers alone", async () => {
    const reply = await submit('{"n":1e308}');
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
    expect((await local.api.get(`/v1/tasks/${reply.body.id}`)).body.params).toEqual({ n: 1e308 });
  });
});
