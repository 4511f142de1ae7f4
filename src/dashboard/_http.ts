/**
 * A web-standard handler (`Request` in, `Response` out) served by
 * `node:http`, which Deno, Bun and Node all provide: one server for the
 * three runtimes without a dependency.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The largest request body read, in bytes: the dashboard's requests are small JSON. */
const MAX_BODY_BYTES = 64 * 1024;

/** A server listening. */
export interface Listening {
  /** The port it listens on: the one picked by the system for port 0. */
  readonly port: number;
  /** Stops accepting, ends open connections and resolves once the server is closed. */
  close(): Promise<void>;
}

/** Serves `handler` on `hostname:port`; rejects when the port cannot be had. */
export function listen(
  handler: (request: Request) => Promise<Response>,
  hostname: string,
  port: number,
): Promise<Listening> {
  const server = createServer((incoming, outgoing) => {
    respond(handler, incoming, outgoing, hostname).catch(() => {
      // The client went away while the answer was written: nothing to tell.
      outgoing.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      let closed: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          closed ??= new Promise<void>((resolve) => {
            server.close(() => resolve());
            // Browsers keep connections open; without this, close() waits for them.
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  hostname: string,
): Promise<void> {
  let response: Response;
  const body = await readBody(incoming);
  if (body === undefined) {
    response = new Response("Request body too large", { status: 413 });
  } else {
    const headers = new Headers();
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (typeof value === "string") headers.set(name, value);
      else if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
    }
    // The Host header only names the URL's origin; routing uses the path alone.
    const url = new URL(incoming.url ?? "/", `http://${hostForUrl(hostname)}`);
    const method = incoming.method ?? "GET";
    response = await handler(
      new Request(url, {
        method,
        headers,
        ...(method === "GET" || method === "HEAD" ? {} : { body }),
      }),
    );
  }
  const payload = new Uint8Array(await response.arrayBuffer());
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name === "set-cookie" ? response.headers.getSetCookie() : value;
  });
  headers["content-length"] = String(payload.byteLength);
  outgoing.writeHead(response.status, headers);
  outgoing.end(payload);
}

/** The body, or `undefined` when it is larger than the limit. */
async function readBody(incoming: IncomingMessage): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** `hostname` as the host part of a URL: IPv6 addresses in brackets. */
export function hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
