import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import sesLocal from "aws-ses-v2-local";
import { LOOPBACK } from "../emulators.js";
import { closeServer, keepRecent, listenLoopback, MAX_RECEIVED, readBody } from "./comms-http.js";
import type { StandIn, StandInFactory } from "./types.js";

/** The local sender; `.localhost` is reserved, so nothing can ever be delivered there by mistake. */
export const LOCAL_EMAIL_FROM = "Nexus <nexus@nexus.localhost>";

type StartSes = (config?: { host?: string; port?: number }) => Promise<Server>;

const require = createRequire(import.meta.url);
/** The emulator's store (one per process): its sent emails, a list it only ever appends to. */
const sentEmails = () =>
  (require("aws-ses-v2-local/dist/store.js") as { getStoreReadonly(): { emails: unknown[] } }).getStoreReadonly()
    .emails;

/** The package is CommonJS with `exports.default`: Node's ESM loader nests it once more than bundlers do. */
function startFunction(): StartSes {
  const mod = sesLocal as unknown as StartSes | { default: StartSes };
  return typeof mod === "function" ? mod : mod.default;
}

/** `Prefix.member.1`, `Prefix.member.2`, … of a query-protocol form, in order. */
function members(form: URLSearchParams, prefix: string): string[] {
  const found: Array<[number, string]> = [];
  for (const [key, value] of form) {
    const match = key.startsWith(`${prefix}.member.`) ? /^\d+$/.exec(key.slice(prefix.length + 8)) : null;
    if (match) found.push([Number(match[0]), value]);
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
}

const xml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The v1 `SendEmail` form as the emulator's v2 `SendEmail` JSON (same message, every recipient). */
function toV2(form: URLSearchParams) {
  const part = (name: string) => {
    const data = form.get(`Message.Body.${name}.Data`);
    return data === null
      ? {}
      : { [name]: { Data: data, Charset: form.get(`Message.Body.${name}.Charset`) ?? "UTF-8" } };
  };
  return {
    FromEmailAddress: form.get("Source") ?? undefined,
    Destination: {
      ToAddresses: members(form, "Destination.ToAddresses"),
      CcAddresses: members(form, "Destination.CcAddresses"),
      BccAddresses: members(form, "Destination.BccAddresses"),
    },
    ReplyToAddresses: members(form, "ReplyToAddresses"),
    Content: {
      Simple: {
        Subject: {
          Data: form.get("Message.Subject.Data") ?? "",
          Charset: form.get("Message.Subject.Charset") ?? "UTF-8",
        },
        Body: { ...part("Text"), ...part("Html") },
      },
    },
  };
}

/**
 * SES: `aws-ses-v2-local` in-process on 127.0.0.1 (it binds every interface unless told), keeping what it
 * got at `GET /store` (JSON) and showing it at `/`. Its v1 `SendEmail` keeps only the first address of each
 * list (its schema names `member.1` only), so a thin front on 127.0.0.1 hands v1 `SendEmail` to the
 * emulator's v2 `SendEmail`, which keeps them all, and answers in v1's XML; everything else goes through
 * unchanged. The emulator's store is one per process, shared by every instance; it keeps the most recent
 * {@link MAX_RECEIVED} emails.
 */
export const startSesStandIn: StandInFactory = async () => {
  const emulator = await startFunction()({ host: LOOPBACK, port: 0 });
  const emulatorPort = (emulator.address() as AddressInfo).port;

  const forward = (req: IncomingMessage, res: ServerResponse, path: string, headers: object, body?: string) => {
    const upstream = request(
      { host: LOOPBACK, port: emulatorPort, method: req.method, path, headers: { ...headers } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    if (body === undefined) req.pipe(upstream);
    else upstream.end(body);
  };

  async function sendEmailV1(req: IncomingMessage, res: ServerResponse, form: URLSearchParams) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    // The emulator only checks that a request is signed; the v2 call carries the v1 call's signature.
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    const answer = await fetch(`http://${LOOPBACK}:${emulatorPort}/v2/email/outbound-emails`, {
      method: "POST",
      headers,
      body: JSON.stringify(toV2(form)),
    });
    const json = (await answer.json().catch(() => ({}))) as { MessageId?: string; detail?: string; message?: string };
    const requestId = randomUUID();
    if (answer.ok && json.MessageId) {
      res.writeHead(200, { "content-type": "text/xml" });
      res.end(
        `<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><SendEmailResult><MessageId>${xml(json.MessageId)}</MessageId></SendEmailResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></SendEmailResponse>`,
      );
      return;
    }
    const code = answer.status === 403 ? "MissingAuthenticationToken" : "InvalidParameterValue";
    res.writeHead(answer.status >= 400 ? answer.status : 500, { "content-type": "text/xml" });
    res.end(
      `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(json.detail ?? json.message ?? "rejected")}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    );
  }

  const front = createServer((req, res) => {
    res.once("finish", () => keepRecent(sentEmails()));
    const isForm = String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
    if (req.method !== "POST" || req.url !== "/" || !isForm) return forward(req, res, req.url ?? "/", req.headers);
    readBody(req, 30 * 1024 * 1024)
      .then(async (raw) => {
        if (raw === undefined) {
          res.writeHead(413);
          res.end();
          return;
        }
        const form = new URLSearchParams(raw);
        if (form.get("Action") === "SendEmail") return sendEmailV1(req, res, form);
        forward(req, res, "/", { ...req.headers, "content-length": String(Buffer.byteLength(raw)) }, raw);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  });
  const listening = await listenLoopback(front);
  const url = listening.url;
  const standIn: StandIn = {
    name: "ses",
    url,
    config: { NEXUS_SES_ENDPOINT: url, NEXUS_EMAIL_FROM: LOCAL_EMAIL_FROM },
    secrets: {},
    describe: [`SES emulator:       ${url}/  (sent mail; JSON at ${url}/store)`],
    stop: async () => {
      await listening.stop();
      await closeServer(emulator);
    },
  };
  return standIn;
};
