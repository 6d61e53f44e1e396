import { fixturesOf } from '../../helpers/translate-sse.ts';

export { chunks, joined, translateSse } from '../../helpers/translate-sse.ts';
export const { fixture, readFixture, readJsonFixture } = fixturesOf('anthropic');
