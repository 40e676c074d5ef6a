// Whose offsets. Storage keeps committed offsets, resend schedules and dead letters under a
// subscription key, passed wherever its interfaces say `group`:
// - a clustering group has one set, shared by its consumers: the key is the group's name;
// - in a broadcast group every consumer has its own: `<group>.<consumer id>`. Group names are
//   DNS-1123 labels (no dots), so a key splits at its first dot, and no group's key can be
//   another group's consumer's. On Kafka topics the key is also the Kafka group id, so Kafka's
//   tools show each broadcast consumer as a group of its own.
// The consumer id is the one the consumer joins with (Meta JoinGroupRequest.consumer_id), so a
// consumer that comes back under the same id resumes from its own offsets.
import { consumerIdProblem } from '../common/names';
import { HeraldError } from '../common/errors';

const SEPARATOR = '.';

/** The key of a group's offsets, or of one broadcast consumer's (INVALID_NAME for a bad id). */
export function subscriptionKey(group: string, consumer?: string): string {
  if (consumer === undefined) return group;
  const problem = consumerIdProblem(consumer);
  if (problem)
    throw new HeraldError('INVALID_NAME', `consumer_id ${JSON.stringify(consumer)} ${problem}`, {
      field: 'consumer_id',
    });
  return `${group}${SEPARATOR}${consumer}`;
}

/** What every key of a broadcast group's consumers starts with. */
export function broadcastPrefix(group: string): string {
  return `${group}${SEPARATOR}`;
}

/** The consumer of broadcast group `group` whose key this is, or undefined when it is none's. */
export function broadcastConsumerOf(group: string, key: string): string | undefined {
  const prefix = broadcastPrefix(group);
  return key.startsWith(prefix) && key.length > prefix.length ? key.slice(prefix.length) : undefined;
}

/** The group a key belongs to (a group's own key, or one of its broadcast consumers'). */
export function groupOfKey(key: string): string {
  const i = key.indexOf(SEPARATOR);
  return i < 0 ? key : key.slice(0, i);
}

/** The longest key: a group name, the separator and a consumer id (storage columns hold it). */
export const MAX_SUBSCRIPTION_KEY_LENGTH = 160;
