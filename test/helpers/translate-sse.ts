import { readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import type { StreamItem, StreamTranslator } from '../../src/providers/types.ts';

// Feeds raw SSE text through eventsource-parser into a translator, in small pieces, the
// way the gateway does (it passes {event, data} to push and calls end() at body end).

/** Fixture readers for one wire protocol's folder under test/fixtures/providers/. */
export function fixturesOf(wire: string) {
  const fixture = (name: string) => new URL(`../fixtures/providers/${wire}/${name}`, import.meta.url);
  const readFixture = (name: string) => readFileSync(fixture(name), 'utf8');
  return { fixture, readFixture, readJsonFixture: (name: string) => JSON.parse(readFixture(name)) };
}

export function translateSse(sse: string, translator: StreamTranslator, pieceSize = 37): StreamItem[] {
  const out: StreamItem[] = [];
  const parser = createParser({ onEvent: (e) => translator.push({ event: e.event, data: e.data }, out) });
  for (let i = 0; i < sse.length; i += pieceSize) parser.feed(sse.slice(i, i + pieceSize));
  translator.end(out);
  return out;
}

/** The chunk items parsed back to objects. */
export function chunks(items: StreamItem[]): any[] {
  return items.filter((i) => i.kind === 'chunk').map((i) => JSON.parse((i as { json: string }).json));
}

/** The concatenated delta field (content, reasoning_content) over all chunks. */
export function joined(items: StreamItem[], field: string): string {
  return chunks(items).map((c) => c.choices[0]?.delta?.[field] ?? '').join('');
}
