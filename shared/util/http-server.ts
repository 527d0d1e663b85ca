import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * True when an `Authorization: Bearer ...` header carries exactly `token`,
 * compared in constant time so the token cannot be guessed byte by byte.
 *
 * @example
 * if (!bearerTokenMatches(req.headers.authorization, token)) return unauthorized(res);
 */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Reads a request body as UTF-8, keeping at most `limit` bytes: a larger body
 * is drained (so the connection stays usable) and reported as `too-large`.
 *
 * @example
 * const body = await readRequestBody(req, 1024 * 1024);
 * if (body === 'too-large') return payloadTooLarge(res);
 */
export function readRequestBody(
  req: IncomingMessage,
  limit: number,
): Promise<string | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > limit ? 'too-large' : Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}
