// The herald CLI's exit codes (docs/cli.md), decided by the error's type and reason, never by
// its text. Pure; unit-tested.
import { HeraldError, UnavailableError } from '../../common/errors';
import { UsageError } from './args';

export const EXIT = {
  OK: 0,
  /** The server refused the request (a HeraldError other than the ones below), or a bug. */
  ERROR: 1,
  /** Bad command line or bad options; nothing was sent. */
  USAGE: 2,
  /** The topic, group or message does not exist. */
  NOT_FOUND: 3,
  /** No answer: Herald could not be reached, or kept answering "try again" until the timeout. */
  UNAVAILABLE: 4,
} as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof RangeError) return EXIT.USAGE;
  if (err instanceof UnavailableError) return EXIT.UNAVAILABLE;
  if (err instanceof HeraldError) {
    if (err.reason === 'TOPIC_NOT_FOUND' || err.reason === 'GROUP_NOT_FOUND') return EXIT.NOT_FOUND;
    // Checked by the SDK before sending: the user's input, not the server's answer.
    if (err.reason === 'INVALID_REQUEST' && err.metadata.field !== undefined && !err.cause) return EXIT.USAGE;
    if (err.retriable) return EXIT.UNAVAILABLE;
  }
  return EXIT.ERROR;
}

/** What the CLI prints on stderr for a failure. */
export function errorLine(err: unknown): string {
  if (err instanceof HeraldError) return `herald: ${err.reason}: ${err.message}`;
  if (err instanceof UnavailableError) return `herald: unavailable: ${err.message}`;
  if (err instanceof Error) return `herald: ${err.message}`;
  return `herald: ${String(err)}`;
}
