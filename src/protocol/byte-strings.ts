// Byte strings: UTF-8 bytes held one per character (code units 0–255), as
// `buffer.latin1Slice()` makes them and `Buffer.from(s, 'latin1')` turns them back.
//
// With an OpenAI-wire upstream the gateway works on bytes this way instead of decoding
// UTF-8: the stream relay, a non-streaming answer, and the request body sent upstream.
// Everything it looks for (`data: `, `"model":"…"`, `"usage"`, `[DONE]`, the top-level
// member names it edits) is ASCII, and
// an ASCII character never occurs inside a multi-byte UTF-8 sequence, so every search
// finds exactly what it finds in decoded text; what it forwards goes out as the same
// bytes it came in as, and a character split across two reads needs no carrying over.
// Decoding made non-ASCII text two-byte strings, slower to search and to encode again:
// a 20-frame stream of Chinese text cost the relay 14.5–15.8 µs decoded, 8.5–9.3 as
// bytes (in a loop). JSON.parse and JSON.stringify leave the characters 0x80–0xFF as
// they are, so JSON parsed and serialised again in this form still encodes the
// upstream's text, unless it held a \u escape of a non-ASCII character: that parses
// into a real character, which no longer says which bytes it stands for. So whatever
// may hold one is decoded before it is parsed, as is what is read as text (a tokenizer).

const ASCII = /^[\x00-\x7f]*$/;

/** The byte string of `text` (ASCII text is its own byte string). */
export function toByteString(text: string): string {
  return ASCII.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/** The text a byte string encodes. */
export function fromByteString(bytes: string): string {
  return ASCII.test(bytes) ? bytes : Buffer.from(bytes, 'latin1').toString('utf8');
}
