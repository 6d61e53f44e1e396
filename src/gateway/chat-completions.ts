import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../protocol/errors.ts';
import { validateChatRequest, validateEmbeddingsRequest } from '../protocol/validate.ts';
import { sumCounts, writeEmbeddingsUsage, writeOpenAIUsage, type Usage } from '../protocol/usage.ts';
import { withTopLevelMembers } from '../protocol/json-members.ts';
import { fromByteString, toByteString } from '../protocol/byte-strings.ts';
import type { ChatCall, ParsedChatResponse } from '../providers/types.ts';
import { UnsupportedFieldError } from '../providers/unsupported.ts';
import { picoToUsd } from '../billing/money.ts';
import { countTextTokens, type CountResult } from '../limits/token-count.ts';
import { authenticate, recheckKey } from './authenticate.ts';
import { admit, measureAhead } from './admission.ts';
import { chatAnswerText } from './answer-text.ts';
import { Exchange } from './exchange.ts';
import type { ModelEntry, Route } from './catalog.ts';
import { sendWithFailover } from './failover.ts';
import { checkAnswer, requestedSchema } from './json-schema-check.ts';
import { writeError, writeJson } from './raw-reply.ts';
import type { Runtime } from './runtime.ts';
import { relayStream } from './stream-relay.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import type { UpstreamResponse } from './upstream-call.ts';
import { CORS_HEADERS } from './cors.ts';
import { wantsZeroRetention, zeroRetentionModel } from './zero-retention.ts';
import { fromErrorIn200, fromTransportError, invalidUpstreamResponse } from './upstream-errors.ts';

// The data-plane pipeline:
//   authenticate → validate → resolve model → admit (limits, reservation)
//   → route with failover → relay → settle and record (Exchange.finish).
// Each step throws a GatewayError; the outcome is settled and recorded exactly once.

export type Endpoint = 'chat' | 'embeddings';

/**
 * Serves one data-plane request whose body is already parsed (see data-plane.ts).
 * `bodyBytes` is that body as the client sent it, as a byte string
 * (protocol/byte-strings.ts): the upstream gets it unchanged but for the members the
 * gateway sets.
 */
/** `key`: the caller's key when the data plane has already checked it, before the body. */
export async function handleExchange(rt: Runtime, endpoint: Endpoint, id: string, req: IncomingMessage, res: ServerResponse, body: unknown, bodyBytes: string, key?: ApiKeyRow): Promise<void> {
  const ex = new Exchange(id, endpoint === 'chat' ? 'chat.completions' : 'embeddings');
  // Only a browser sends Origin; SDKs on servers are spared two headers on every answer.
  if (req.headers.origin !== undefined) Object.assign(ex.headers, CORS_HEADERS);
  rt.inFlight++;
  try {
    const k = key ?? authenticate(rt, req.headers);
    ex.key = k instanceof Promise ? await k : k;
    const account = rt.accounts.get(ex.key.accountId);
    ex.account = account instanceof Promise ? await account : account;
    if (!ex.account) throw new GatewayError('invalid_api_key', 'Invalid API key.');
    ex.zeroRetention = wantsZeroRetention(req.headers);
    await (endpoint === 'chat' ? chat(rt, ex, body, res, bodyBytes) : embeddings(rt, ex, body, res, bodyBytes));
  } catch (err) {
    if (!(err instanceof GatewayError)) {
      rt.log.error({ err, request_id: ex.id }, 'unexpected error in request pipeline');
      err = new GatewayError('internal_error', 'Internal error. Quote the request id when reporting it.');
    }
    let ge = err as GatewayError;
    // Whatever broke after the client left (an aborted upstream body, say) is recorded as
    // the client's leaving.
    if (ex.clientGone && ge.code !== 'client_closed') ge = new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
    if (!res.headersSent) {
      ex.status = ge.status;
      ex.errorCode = ge.code;
    }
    writeError(res, ex.id, ge, ex.headers);
  } finally {
    // A long prompt to count for the usage of an answer that reported none is counted on
    // a thread, while the request still counts as in flight (a shutdown waits for it).
    // Its client has its answer: the account's next request need not wait for the count.
    if (ex.promptEstimateDue) {
      ex.grant?.answered();
      await ex.countPromptAhead(rt).catch(() => {}); // else counted in place
    }
    rt.inFlight--;
    // Cut by the gateway's own shutdown, not left by its client: the log says so.
    if (rt.drainExpired && ex.errorCode === 'client_closed') {
      ex.errorCode = 'shutting_down';
      if (ex.status === 499) ex.status = 503;
    }
    ex.finish(rt);
  }
}

function resolveModel(rt: Runtime, ex: Exchange, id: string, type: 'chat' | 'embedding'): ModelEntry {
  ex.publicModel = id;
  const model = rt.catalog.find(id);
  if (!model) throw new GatewayError('model_not_found', `The model '${id}' does not exist. GET /v1/models lists the models your key can use.`, { param: 'model' });
  if (model.type !== type) {
    throw new GatewayError('invalid_request', `The model '${id}' is ${model.type === 'chat' ? 'a chat' : 'an embedding'} model; use ${model.type === 'chat' ? '/v1/chat/completions' : '/v1/embeddings'}.`, { param: 'model' });
  }
  if (!ex.zeroRetention) {
    ex.model = model;
    return model;
  }
  const restricted = zeroRetentionModel(model, id);
  ex.headers['x-tollgate-zero-retention'] = 'true';
  ex.model = restricted;
  return restricted;
}

/** Media types an upstream answers a stream request with by mistake, named in the error. */
const KNOWN_MEDIA_TYPES = new Set(['application/json', 'text/plain', 'text/html', 'application/xml', 'text/xml', 'application/octet-stream', 'application/x-ndjson', 'application/problem+json', 'application/grpc']);

/** The media type of a content-type header, quoted only when it is a common one: the
 *  upstream fills the header, and what it echoes there (a key) must not reach a client. */
function mediaTypeNamed(contentType: string): string {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (!type) return 'no content type';
  return KNOWN_MEDIA_TYPES.has(type) ? `"${type}"` : 'another content type';
}

/**
 * A measure taken ahead of admission (admission.ts measureAhead). A client that left
 * while its input was counted is not admitted: it uses up nothing. The key is read again,
 * as the next request would read it: it may have been revoked or changed meanwhile.
 */
async function stillWanted(rt: Runtime, ex: Exchange, ahead: Promise<CountResult>): Promise<CountResult> {
  let measured: CountResult;
  try {
    measured = await ahead;
  } catch (err) {
    if (ex.clientGone) throw new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
    throw err;
  }
  if (ex.clientGone) throw new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
  const key = recheckKey(rt, ex.key!);
  ex.key = key instanceof Promise ? await key : key;
  return measured;
}

/** Aborts the upstream call when the client goes away before the response is complete. */
function abortOnClientClose(res: ServerResponse, ex: Exchange): void {
  res.once('close', () => {
    if (res.writableFinished) return;
    ex.clientLeft();
    ex.upstreamCall?.abort(Object.assign(new Error('client closed the request'), { code: 'UPSTREAM_ABORTED' }));
  });
}

/** An upstream answer's text and JSON; `bytes` when both hold byte strings (protocol/byte-strings.ts). */
interface AnswerText {
  json: unknown;
  text: string;
  bytes: boolean;
  /** The upstream's own JSON (not a translation): its text is edited, not re-serialised. */
  untranslated: boolean;
}

/**
 * Reads an answer. One from an OpenAI-wire upstream is read as bytes and parsed as
 * such, unless it holds a `\u` escape: an escaped non-ASCII character parses into a
 * character among the byte strings, and an object mixing the two cannot be serialised
 * back to bytes. Such an answer (Python's json escapes every non-ASCII character) is
 * decoded, as every answer was before.
 */
async function readAnswer(res: UpstreamResponse, route: Route): Promise<AnswerText> {
  const untranslated = route.upstream.adapter.passesOpenAIBodies === true;
  let text: string;
  // A whole answer within timeout_ms of its first byte: the pool's silence timer alone
  // let a body that trickles in a byte at a time hold the request for as long as it went
  // on. Counted from the answer's first byte, not its head, since some proxies send the
  // head at once and blank keep-alives while a long answer is generated.
  let timer: NodeJS.Timeout | undefined;
  res.body.whenContent(() => {
    timer = setTimeout(() => res.body.destroy(Object.assign(new Error('upstream body timeout'), { code: 'UPSTREAM_BODY_TIMEOUT' })), route.upstream.config.timeout_ms);
  });
  try {
    text = await res.body.text(untranslated ? 'latin1' : 'utf8');
  } catch (err) {
    throw fromTransportError(err);
  } finally {
    clearTimeout(timer);
  }
  // A byte-order mark before the JSON (some Windows-hosted servers write one) is no
  // part of the answer, and JSON.parse refuses it: left on, a good answer was a 502.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  else if (untranslated && text.startsWith('\xef\xbb\xbf')) text = text.slice(3);
  const bytes = untranslated && text.indexOf('\\u') === -1;
  if (untranslated && !bytes) text = fromByteString(text);
  try {
    return { json: JSON.parse(text), text, bytes, untranslated };
  } catch {
    throw invalidUpstreamResponse(text.trim() === '' ? 'the body is empty' : 'the body is not JSON');
  }
}

type Answer = ParsedChatResponse & Omit<AnswerText, 'json'>;

/** The answer's body with its strings as text, for what reads them as text (a JSON schema). */
function textBody(answer: Answer): Record<string, any> {
  return answer.bytes ? (JSON.parse(fromByteString(answer.text)) as Record<string, any>) : answer.body;
}

/**
 * Sends the client's answer: for an OpenAI-wire upstream, its own text with `changes`
 * made; a translated body (or one naming a member twice) is serialised. Parsing and
 * re-serialising a 24 KB chat answer took 57 µs, parsing and editing its text 29–37 µs
 * (one 1536-float embedding: 160 against 113–120 µs); and re-serialising changes what the
 * upstream wrote (`1.0` becomes `1`, escapes are rewritten, floats get their shortest
 * spelling). Reading it as bytes rather than decoding it took a 24 KB answer of Chinese
 * text from 36–42 to 19–24 µs (ASCII: 24–27 to 18–21), in a loop. `changes` hold the
 * public model as text and values taken from the answer itself (usage), in its form.
 */
function writeAnswer(res: ServerResponse, headers: Record<string, string>, answer: Answer, changes: Record<string, unknown>): void {
  if (answer.bytes && typeof changes.model === 'string') changes.model = toByteString(changes.model);
  const edited = answer.untranslated ? withTopLevelMembers(answer.text, changes) : null;
  const text = edited ?? JSON.stringify(Object.assign(answer.body, changes));
  writeJson(res, 200, headers, text, answer.bytes ? 'latin1' : 'utf8');
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** `text` as a header value: percent-encoded unless it is printable ASCII (node:http refuses the rest). */
function headerValue(text: string): string {
  return PRINTABLE_ASCII.test(text) ? text : encodeURIComponent(text);
}

/** Milliseconds from the request's arrival to its answer, for x-tollgate-latency-ms. */
function latencyMs(ex: Exchange): string {
  return String(Math.round(performance.now() - ex.startedAt));
}

function setRouteHeaders(ex: Exchange, route: Route): void {
  const h = ex.headers;
  h['x-tollgate-provider'] = route.upstream.id;
  h['x-tollgate-upstream-model'] = headerValue(route.model);
  h['x-tollgate-failover'] = ex.failover ? 'true' : 'false';
}

/**
 * Tells the client that the usage it gets was counted by the gateway, not reported by
 * the upstream: `estimated: true` beside `cost` in the body, and a header beside
 * x-tollgate-cost, as the ledger entry says `usage_estimated`.
 */
function markEstimated(ex: Exchange, usage: Record<string, any>): Record<string, any> {
  usage.estimated = true;
  ex.headers['x-tollgate-usage-estimated'] = 'true';
  return usage;
}

/** Both attempts' usage; a count that cannot be true in either stays so (-5 + 10 would pass for 5). */
function addUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a) return b;
  if (!b) return a;
  return {
    prompt: sumCounts(a.prompt, b.prompt),
    cached: sumCounts(a.cached, b.cached),
    cacheWrite: sumCounts(a.cacheWrite, b.cacheWrite),
    completion: sumCounts(a.completion, b.completion),
    reasoning: sumCounts(a.reasoning, b.reasoning),
  };
}

async function chat(rt: Runtime, ex: Exchange, requestBody: unknown, res: ServerResponse, bodyBytes: string): Promise<void> {
  const info = validateChatRequest(requestBody);
  ex.stream = info.stream;
  const model = resolveModel(rt, ex, info.model, 'chat');
  abortOnClientClose(res, ex);
  const ahead = measureAhead(rt, ex, requestBody as Record<string, any>, bodyBytes.length);
  const body = admit(rt, ex, requestBody as Record<string, any>, info.maxTokens, ahead && (await stillWanted(rt, ex, ahead)));
  const callFor = (route: Route): ChatCall => ({ body, bodyBytes, upstreamModel: route.model, stream: info.stream, maxOutputTokens: ex.outputCap, modelMaxOutputTokens: model.maxOutputTokens, reservedOutputTokens: ex.outputReserved });
  const build = (route: Route) => route.upstream.adapter.buildChatRequest(callFor(route), route.upstream.config);

  if (!info.stream) {
    const receive = async (): Promise<Answer> => {
      const { parsed, read, route } = await sendWithFailover(rt, ex, model, build, async ({ route, res: up }) => {
        const { json, ...read } = await readAnswer(up, route);
        const parsed = route.upstream.adapter.parseChatResponse(json);
        if (!parsed.error && (!parsed.body || typeof parsed.body !== 'object' || !Array.isArray(parsed.body.choices))) throw invalidUpstreamResponse('no choices');
        return { parsed, read, route };
      });
      // An error the upstream answered with (a refusal of this prompt, Gemini's failed tool
      // call) is its answer to this request, not a failure of the upstream: no failover,
      // and no count against the breaker that every customer shares. Its message is
      // scrubbed like any upstream error's; nothing usable reached the client, so nothing
      // is charged, as for an error status.
      if (parsed.error) throw fromErrorIn200(route.upstream, parsed.error);
      // An answer without a usage report is billed by counting it, as a stream without one
      // is; it used to cost nothing at all.
      if (!parsed.usage) await ex.countPromptAhead(rt);
      ex.usage = addUsage(ex.usage, parsed.usage ?? ex.estimatedUsage(countTextTokens(chatAnswerText(parsed.body, read.bytes))));
      return { ...parsed, ...read };
    };
    const schema = model.config.validate_json_schema ? requestedSchema(body) : undefined;
    if (schema !== undefined) rt.schemaCheck.warm(); // its thread loads while the upstream answers
    let parsed = await receive();
    if (schema !== undefined) {
      // A miss is retried once; both attempts are metered and charged.
      let verdict = await checkAnswer(rt.schemaCheck, schema, textBody(parsed));
      if (verdict.kind === 'invalid') {
        // The reservation covers one attempt; the retry runs only if the balance also
        // covers what the first one cost, so that both together cannot overdraw it.
        if (!rt.billing.extend(ex.reservation!, rt.billing.quote(ex.reservation!, ex.usage!))) {
          throw new GatewayError('response_format_validation_failed', `The model's answer did not match the requested json_schema (${verdict.violations}), and it was not retried: the balance cannot cover a second attempt.`, { param: 'response_format' });
        }
        rt.log.info({ request_id: ex.id, miss: verdict.violations }, 'json_schema answer did not validate; retrying once');
        // The request is charged the first answer if the retry finds no upstream: its log
        // row and ledger entry name the route that gave it, not one that failed after.
        const first = { route: ex.route, failover: ex.failover };
        try {
          parsed = await receive();
        } catch (err) {
          ex.route = first.route;
          ex.failover = first.failover;
          throw err;
        }
        verdict = await checkAnswer(rt.schemaCheck, schema, textBody(parsed));
        if (verdict.kind === 'invalid') throw new GatewayError('response_format_validation_failed', `The model's answer did not match the requested json_schema twice: ${verdict.violations}.`, { param: 'response_format' });
      }
      // A client can tell a checked answer from one relayed unchecked.
      ex.headers['x-tollgate-schema-check'] = verdict.kind === 'valid' ? 'passed' : `skipped: ${verdict.reason}`;
      if (verdict.kind === 'unchecked') {
        // Over the check's limits is worth an operator's eye: it can be a client probing them.
        const limited = verdict.reason === 'timed out' || verdict.reason === 'busy' || verdict.reason === 'checker failed';
        rt.log[limited ? 'warn' : 'info']({ request_id: ex.id, reason: verdict.reason }, 'json_schema answer relayed unchecked');
      }
    }
    const out = parsed.body;
    const changes: Record<string, unknown> = { model: info.model };
    if (ex.usage) {
      const usage = writeOpenAIUsage(out.usage, ex.usage);
      const cost = picoToUsd(rt.billing.quote(ex.reservation!, ex.usage));
      usage.cost = cost;
      if (ex.usageEstimated) markEstimated(ex, usage);
      changes.usage = usage;
      ex.headers['x-tollgate-cost'] = cost;
    }
    setRouteHeaders(ex, ex.route!);
    ex.status = 200;
    ex.headers['x-tollgate-latency-ms'] = latencyMs(ex);
    ex.markFirstByte();
    writeAnswer(res, ex.headers, parsed, changes);
    return;
  }

  const { route, res: up } = await sendWithFailover(rt, ex, model, build, (answer) => {
    const ct = answer.res.headers.get('content-type') ?? '';
    // Media types are case-insensitive (RFC 9110 §8.3.1).
    if (!ct.toLowerCase().includes('text/event-stream')) {
      answer.res.body.dump();
      throw invalidUpstreamResponse(`expected an event stream, got ${mediaTypeNamed(ct)}`);
    }
    return answer;
  }, true);
  try {
    setRouteHeaders(ex, route);
    const h = ex.headers;
    h['content-type'] = 'text/event-stream; charset=utf-8';
    h['cache-control'] = 'no-cache';
    // No connection header of our own: node:http writes keep-alive when the client keeps
    // the connection, and close (then closes) when it asked to; a forced keep-alive held
    // the connection open after a `Connection: close` request's stream had ended.
    h['x-accel-buffering'] = 'no';
    // The headers go out with the first frames, in one write; relayStream flushes them on
    // their own only if the upstream's first bytes are not already here.
    res.writeHead(200, h);
    ex.status = 200;
    await relayStream({
      res,
      body: up.body,
      translator: route.upstream.adapter.createStreamTranslator(callFor(route)),
      upstream: route.upstream,
      ex,
      publicModel: info.model,
      includeUsage: info.includeUsage,
      decorateUsage: (usage) => {
        if (ex.usage) usage.cost = picoToUsd(rt.billing.quote(ex.reservation!, ex.usage));
      },
      sendTimeoutMs: rt.config.send_timeout_ms,
    });
  } finally {
    // A stream that opened well and then failed (cut, stalled, ended early) is the
    // upstream's failure: counted as one, an upstream that always fails mid-stream is
    // paused like one that answers 5xx. One that ended well is a success. A client that
    // left, or an error event (the upstream's answer to this prompt, which a customer
    // could repeat to pause an upstream for everyone), says nothing either way.
    if (ex.upstreamFault) route.upstream.breaker.failure();
    else if (ex.errorCode === null) route.upstream.breaker.success();
  }
}

async function embeddings(rt: Runtime, ex: Exchange, requestBody: unknown, res: ServerResponse, bodyBytes: string): Promise<void> {
  const info = validateEmbeddingsRequest(requestBody);
  const model = resolveModel(rt, ex, info.model, 'embedding');
  abortOnClientClose(res, ex);
  const ahead = measureAhead(rt, ex, requestBody as Record<string, any>, bodyBytes.length);
  const body = admit(rt, ex, requestBody as Record<string, any>, undefined, ahead && (await stillWanted(rt, ex, ahead)));
  const { route, parsed, read } = await sendWithFailover(
    rt,
    ex,
    model,
    (r) => {
      const build = r.upstream.adapter.buildEmbeddingsRequest;
      // Skipped for a route that has them, as a field a route cannot send is.
      if (!build) throw new UnsupportedFieldError('model', `The model '${info.model}' does not support embeddings on its upstream.`);
      return build(body, r.model, r.upstream.config, bodyBytes);
    },
    async ({ route, res: up }) => {
      const { json, ...read } = await readAnswer(up, route);
      const parsed = route.upstream.adapter.parseEmbeddingsResponse!(json);
      if (!parsed.error && (!parsed.body || typeof parsed.body !== 'object' || !Array.isArray(parsed.body.data))) throw invalidUpstreamResponse('no data');
      return { route, parsed, read };
    },
  );
  // As for chat: the upstream's own words, scrubbed, nothing charged, and no failover.
  if (parsed.error) throw fromErrorIn200(route.upstream, parsed.error);
  setRouteHeaders(ex, route);
  const out = parsed.body;
  const changes: Record<string, unknown> = { model: info.model };
  // Without a usage report, the input is counted (an answer's embeddings have no tokens).
  // An embedding has no output: a completion count an upstream reports beside it (900 for
  // a two-token input was seen) is neither billed nor counted against token limits.
  if (!parsed.usage) await ex.countPromptAhead(rt);
  const usage = parsed.usage ? { ...parsed.usage, completion: 0, reasoning: 0 } : ex.estimatedUsage(0);
  ex.usage = usage;
  const cost = picoToUsd(rt.billing.quote(ex.reservation!, usage));
  if (parsed.usage) {
    changes.usage = { ...writeEmbeddingsUsage(out.usage, usage), cost };
  } else {
    changes.usage = markEstimated(ex, { prompt_tokens: usage.prompt, total_tokens: usage.prompt, cost });
  }
  ex.headers['x-tollgate-cost'] = cost;
  ex.status = 200;
  ex.headers['x-tollgate-latency-ms'] = latencyMs(ex);
  ex.markFirstByte();
  writeAnswer(res, ex.headers, { ...parsed, ...read }, changes);
}
