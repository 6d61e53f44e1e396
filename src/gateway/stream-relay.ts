import type { ServerResponse } from 'node:http';
import type { StreamItem, StreamTranslator } from '../providers/types.ts';
import { toByteString } from '../protocol/byte-strings.ts';
import { errorBody } from '../protocol/errors.ts';
import { indexOfQuoted, replaceQuoted } from '../protocol/json-text.ts';
import { writeOpenAIUsage } from '../protocol/usage.ts';
import type { Exchange } from './exchange.ts';
import { KEEP_ALIVE, SseFrames } from './sse-frames.ts';
import type { UpstreamBody } from './upstream-call.ts';
import { fromErrorIn200, fromTransportError } from './upstream-errors.ts';
import type { Upstream } from './upstreams.ts';

// Relays an upstream SSE stream as a native OpenAI stream, event by event as it
// arrives: everything from one upstream read goes out in one write, nothing is held
// back. Chunks pass through as text; only frames that carry usage or an error are
// parsed. The `model` is rewritten to the public id by string replacement.
//
// An OpenAI-wire stream (`passesOpenAIFrames`) is handled as byte strings
// (protocol/byte-strings.ts): read as latin1, written as latin1, never decoded, so
// its frames leave as the very bytes they came in as. Other wires are translated, so
// they are decoded as UTF-8 text.

export interface StreamRelayOptions {
  res: ServerResponse;
  body: UpstreamBody;
  translator: StreamTranslator;
  upstream: Upstream;
  ex: Exchange;
  publicModel: string;
  includeUsage: boolean;
  /** Turns usage into extra usage fields (cost) for the client's usage frame. */
  decorateUsage: (usage: Record<string, any>) => void;
  /** How long a client may take to drain one write before it is cut (send_timeout_ms). */
  sendTimeoutMs: number;
}

const DONE = 'data: [DONE]\n\n';

// `"usage":null` as a member, unspaced or as Python's json.dumps writes it (`, "usage": null`).
const NULL_USAGE = /, ?"usage": ?null|"usage": ?null,? ?/g;
function hasNullUsage(text: string): boolean {
  return text.includes('usage":null') || text.includes('usage": null');
}

/** One event's data as a frame. Data with line breaks (an upstream's multi-line event,
 * joined by the parser) keeps one `data:` line per line, so the client reads the same data. */
function dataFrame(data: string): string {
  return data.includes('\n') ? `data: ${data.replaceAll('\n', '\ndata: ')}\n\n` : `data: ${data}\n\n`;
}
/** How long, and how much, an upstream may still send after [DONE] before we drop it. */
const DRAIN_GRACE_MS = 1_000;
const DRAIN_LIMIT_BYTES = 64 * 1024;

export async function relayStream(o: StreamRelayOptions): Promise<void> {
  const { res, ex } = o;
  const items: StreamItem[] = [];
  const parser = new SseFrames(o.translator, items);
  const bytes = o.translator.passesOpenAIFrames === true;
  const encoding = bytes ? 'latin1' : 'utf8';
  /** What the relay writes itself, in the stream's form. */
  const own = bytes ? toByteString : (text: string) => text;
  const publicModelValue = own(JSON.stringify(o.publicModel));
  ex.streamed.asBytes = bytes;
  const decoder = bytes ? null : new TextDecoder();
  // A leading byte order mark sends the stream to eventsource-parser (sse-frames.ts),
  // which drops it whether decoded or, as here, as three byte-valued characters.
  const decode = (chunk: Buffer): string => (decoder ? decoder.decode(chunk, { stream: true }) : chunk.toString('latin1'));
  let modelRewrite: { needle: string; replacement: string } | null | undefined; // undefined = not learned yet; null = no rewrite needed
  let done = false;
  let failed = false;

  const render = (): string => {
    let out = '';
    for (const item of items) {
      if (done || failed) break;
      switch (item.kind) {
        case 'chunk':
        case 'frames': {
          // Not the answer: neither rewritten nor counted as sent text.
          if (item.kind === 'frames' && item.text === KEEP_ALIVE) {
            out += KEEP_ALIVE;
            break;
          }
          // One chunk's JSON, or a run of whole `data:` frames: the same rewrites apply.
          let text = item.kind === 'chunk' ? dataFrame(item.json) : item.text;
          if (modelRewrite === undefined) modelRewrite = learnModelRewrite(text, publicModelValue);
          if (modelRewrite) text = replaceQuoted(text, modelRewrite.needle, modelRewrite.replacement);
          if (!o.includeUsage && (item.kind === 'chunk' || item.mentionsUsage) && hasNullUsage(text)) text = text.replace(NULL_USAGE, '');
          ex.streamed.push(text);
          out += text;
          break;
        }
        case 'usage': {
          ex.usage = item.usage;
          if (o.includeUsage) {
            const frame = item.frame;
            frame.model = o.publicModel;
            const usage = writeOpenAIUsage(frame.usage, item.usage);
            o.decorateUsage(usage);
            frame.usage = usage;
            out += own(`data: ${JSON.stringify(frame)}\n\n`);
          }
          break;
        }
        case 'prompt-usage':
          ex.promptUsage = item.usage;
          break;
        case 'error': {
          failed = true;
          const ge = fromErrorIn200(o.upstream, item.error);
          ex.errorCode = ge.code;
          out += `data: ${own(ge.toBody(ex.id))}\n\n`;
          break;
        }
        case 'done':
          done = true;
          out += DONE;
          break;
      }
    }
    items.length = 0;
    return out;
  };

  // The response headers are written but not yet sent: they leave with the first frames
  // in one write. If the upstream's first bytes are not already here, send them on their
  // own at the next turn of the event loop, so the client sees its 200 at once.
  let wrote = false;
  const headersAlone = setImmediate(() => {
    if (!wrote && !res.writableEnded) res.flushHeaders();
  });
  const body = o.body;
  // The last frames and the end of the response go out together.
  let tail = '';
  let ended = false;

  /**
   * Whether the answer is whole though no [DONE] came: its usage arrived and its last
   * frame has a finish_reason. Only for one choice: with n > 1 the last frame's
   * finish_reason says nothing of the other choices.
   */
  const answerComplete = (): boolean => !done && !failed && ex.usage !== null && (ex.body?.n ?? 1) === 1 && ex.streamed.finished;

  return new Promise<void>((resolve) => {
    const end = (): void => {
      if (ended) return;
      ended = true;
      // Cut before the translator let go of a report it was holding: that report came.
      if (!ex.usage) ex.usage = o.translator.heldUsage?.() ?? null;
      clearImmediate(headersAlone);
      clearTimeout(stalled);
      if (tail && !res.destroyed) res.end(tail, encoding);
      else res.end();
      // After [DONE] the rest of the body (normally nothing) is read and dropped so the
      // upstream connection goes back to the pool; after a failure it is closed.
      if (done && !failed) body.dump(DRAIN_LIMIT_BYTES, DRAIN_GRACE_MS);
      else body.destroy();
      resolve();
    };
    let paused = false;
    // A client that stops reading (a stalled network, a tab put to sleep) would hold the
    // paused upstream connection, its slot and the reservation for as long as the TCP
    // connection lives; like nginx's send_timeout, a write not drained in time ends it.
    let stalled: NodeJS.Timeout | undefined;
    const onDrain = (): void => {
      paused = false;
      clearTimeout(stalled);
      body.resume();
    };
    const onStalled = (): void => {
      if (ended) return;
      ex.errorCode = 'client_send_timeout';
      res.off('drain', onDrain);
      // What is still in the response's buffer never left: not charged. Counted in bytes
      // (with the chunked framing) against characters, and with the write in progress
      // whole, this errs only in the client's favour.
      ex.streamed.unsend(res.writableLength);
      res.destroy();
      failed = true;
      end();
    };
    const fail = (err: unknown): void => {
      if (ended) return;
      if (res.destroyed || ex.clientGone) {
        ex.errorCode = 'client_closed';
      } else if (answerComplete()) {
        // The whole answer and its usage came, and the upstream then went quiet or
        // dropped the connection instead of sending [DONE]: nothing is missing.
        done = true;
        tail = DONE;
        end();
        return;
      } else {
        const ge = fromTransportError(err);
        ex.errorCode = ge.code;
        ex.upstreamFault = true;
        tail = `data: ${own(ge.toBody(ex.id))}\n\n`;
      }
      failed = true;
      end();
    };
    const onChunk = (chunk: Buffer): void => {
      parser.feed(decode(chunk));
      if (items.length === 0) return;
      const out = render();
      // A keep-alive is not the answer's first byte.
      if (out && (out.charCodeAt(0) !== 58 /* : */ || out.replaceAll(KEEP_ALIVE, '') !== '')) ex.markFirstByte();
      if (done || failed) {
        tail = out;
        end();
        return;
      }
      if (out && !res.destroyed) {
        wrote = true;
        // A slow client: hold the upstream until this write has drained.
        if (!res.write(out, encoding) && !paused) {
          paused = true;
          body.pause();
          res.once('drain', onDrain);
          stalled = setTimeout(onStalled, o.sendTimeoutMs);
        }
      }
    };

    body
      .pipe((chunk) => {
        if (ended) return;
        try {
          onChunk(chunk);
        } catch (err) {
          fail(err);
        }
      })
      .then(() => {
        if (ended) return;
        if (decoder) parser.feed(decoder.decode());
        parser.end();
        o.translator.end(items);
        tail = render();
        if (!done && !failed && answerComplete()) {
          // A whole answer (its finish_reason, then its usage) from an upstream that ends
          // its streams without [DONE], as some OpenAI-compatible servers do: complete, and
          // told so, not cut short with an error the SDKs raise on a finished answer.
          done = true;
          tail += DONE;
        } else if (!done && !failed) {
          failed = true;
          ex.upstreamFault = true;
          ex.errorCode = 'upstream_stream_incomplete';
          tail += `data: ${own(errorBody('The upstream provider ended the stream early.', 'api_error', null, 'upstream_error', ex.id))}\n\n`;
        }
        end();
      })
      .catch(fail);
  });
}

/**
 * The upstream may name a model differently (a dated snapshot); learn from the first
 * chunk the text of its `"model": "..."` member, spacing included (Python's json.dumps
 * and pydantic v1 write `": "`), and what replaces it: the same key and spacing with the
 * public id. Null when the chunk already names the public one; undefined (learn from
 * a later read) when it names no model, or only the empty one.
 */
function learnModelRewrite(json: string, publicModel: string, from = 0): { needle: string; replacement: string } | null | undefined {
  const i = indexOfQuoted(json, 'model', from);
  // No model named (a keep-alive, or Azure's first chunk): learn from a later read.
  if (i === -1) return undefined;
  let j = i + 7;
  while (json.charCodeAt(j) === 32) j++;
  if (json.charCodeAt(j) !== 58 /* : */) return null;
  j++;
  while (json.charCodeAt(j) === 32) j++;
  if (json.charCodeAt(j) !== 34 /* " */) return null;
  const end = json.indexOf('"', j + 1);
  if (end === -1 || json.slice(j, end + 1) === publicModel) return null;
  // Azure's first chunk (prompt_filter_results, no choices) names model "": learnt from
  // it, the rewrite would miss every later chunk, which name the deployment's model.
  // Learn from the next frame that names one, here or in a later read.
  if (end === j + 1) return learnModelRewrite(json, publicModel, end + 1);
  return { needle: json.slice(i, end + 1), replacement: json.slice(i, j) + publicModel };
}
