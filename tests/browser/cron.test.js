// cron.test.js — the schedule editor's cron descriptions (web/cron.js), run in
// node directly (the module has no DOM dependencies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeCron } from '../../web/cron.js';

test('describes common cron expressions', () => {
  assert.equal(describeCron('0 2 * * *'), 'At 02:00 every day.');
  assert.equal(describeCron('30 3 * * 1-5'), 'At 03:30 on Monday to Friday.');
  assert.equal(describeCron('*/15 * * * *'), 'Every 15 minutes.');
  assert.equal(describeCron('5 * * * *'), 'Every hour at minute 5.');
  assert.equal(describeCron('0 4 1 * *'), 'At 04:00 on day 1 of the month.');
  assert.equal(describeCron('0 0 1 1 *'), 'At 00:00 on day 1 of the month in January.');
  assert.equal(describeCron('@daily'), 'At 00:00 every day.');
  assert.equal(describeCron('0 22 * * 0,6'), 'At 22:00 on Sunday, Saturday.');
});

test('rejects malformed input with a hint', () => {
  assert.match(describeCron('0 2 * *'), /five fields/);
  assert.match(describeCron(''), /five fields/);
  assert.match(describeCron('0 2 * * <b>'), /Not a valid/);
});
