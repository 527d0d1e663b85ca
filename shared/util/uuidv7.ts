import { randomFillSync } from 'node:crypto';

const pool = new Uint8Array(4096);
let poolOffset = pool.length;
let lastMs = 0;
let sequence = 0;

function randomBytes10(): Uint8Array {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit
 * counter that keeps ids from one process increasing within a millisecond,
 * then 62 random bits. Time-ordered ids append to a database index instead
 * of landing at random pages, which keeps inserts into a large telemetry or
 * approval file several times cheaper than random (v4) ids.
 *
 * @example
 * uuidv7() // '019ab2f4-5c1e-7a03-9f6d-2b8c41e0d7a5'
 */
export function uuidv7(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    // 4096 ids in one millisecond: borrow the next millisecond to stay ordered.
    lastMs++;
    sequence = 0;
  }
  const ms = lastMs;
  const r = randomBytes10();
  const b = new Uint8Array(16);
  b[0] = Math.floor(ms / 2 ** 40) & 0xff;
  b[1] = Math.floor(ms / 2 ** 32) & 0xff;
  b[2] = (ms >>> 24) & 0xff;
  b[3] = (ms >>> 16) & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = 0x70 | ((sequence >>> 8) & 0x0f);
  b[7] = sequence & 0xff;
  b[8] = 0x80 | (r[0]! & 0x3f);
  for (let i = 9; i < 16; i++) b[i] = r[i - 8]!;
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX[b[i]!]!;
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}
