import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatAnswerText, messageText } from '../../src/gateway/answer-text.ts';
import { toByteString } from '../../src/protocol/byte-strings.ts';

// The text an answer that reported no usage is billed for.

test('a message counts its content, reasoning, refusal and every tool call; nothing else', () => {
  const m = {
    role: 'assistant',
    content: 'A',
    reasoning_content: 'B',
    refusal: 'C',
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }, { function: { name: 'g', arguments: '{}' } }],
    annotations: [{ text: 'not generated' }],
  };
  assert.equal(messageText(m), 'ABCf{"x":1}g{}');
  assert.equal(messageText({ content: [{ type: 'text', text: 'one ' }, { type: 'text', text: 'two' }, { type: 'image' }] }), 'one two');
  assert.equal(messageText({ content: null, tool_calls: [null, { function: null }] }), '');
  assert.equal(messageText(null), '');
  assert.equal(messageText('text'), '');
});

test('an answer counts every choice, decoding byte strings', () => {
  const body = { choices: [{ message: { content: 'héllo ' } }, { message: { content: '世界' } }, null, { delta: { content: 'not a message' } }] };
  assert.equal(chatAnswerText(body, false), 'héllo 世界');
  const bytes = { choices: [{ message: { content: toByteString('héllo ') } }, { message: { content: toByteString('世界') } }] };
  assert.equal(chatAnswerText(bytes, true), 'héllo 世界');
  assert.equal(chatAnswerText({ choices: 'none' }, false), '');
});
