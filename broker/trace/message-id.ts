// Message ids as clients see them: "<topic>/<partition>/<offset>" for a stored message and
// "<topic>/<partition>/d<id>" for a delayed one before it falls due. Pure.
import { HeraldError } from '../../common/errors';
import { nameProblem } from '../../common/names';
import type { PartitionRef } from '../../storage/storage';

export function messageId(ref: PartitionRef, offset: number): string {
  return `${ref.topic}/${ref.partition}/${offset}`;
}

/** The id of a delayed message, which its deliveries and trace keep. */
export function scheduledId(ref: PartitionRef, id: number): string {
  return `${ref.topic}/${ref.partition}/d${id}`;
}

/** The canonical form of a client's message id; INVALID_REQUEST (field message_id) otherwise. */
export function parseMessageId(id: string): { ref: PartitionRef; id: string } {
  const match = /^(.+)\/(\d{1,5})\/(d?)(\d{1,16})$/.exec(id);
  const topic = match?.[1] ?? '';
  if (!match || nameProblem(topic) !== undefined) {
    throw new HeraldError(
      'INVALID_REQUEST',
      `message_id ${JSON.stringify(id)} must look like <topic>/<partition>/<offset> or <topic>/<partition>/d<id>`,
      { field: 'message_id' },
    );
  }
  const ref = { topic, partition: Number(match[2]) };
  return { ref, id: `${topic}/${ref.partition}/${match[3]}${Number(match[4])}` };
}
