// Names of topics and consumer groups. They become Kubernetes object names and parts of
// MySQL table names, so they are DNS-1123 labels short enough for a 64-character table name.

export const MAX_NAME_LENGTH = 48;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` is not a valid topic or group name, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (!LABEL.test(name))
    return 'must consist of lower-case letters, digits and "-", starting and ending alphanumeric';
  return undefined;
}

/** The longest consumer id a broadcast group takes (it becomes part of storage keys). */
export const MAX_CONSUMER_ID_LENGTH = 100;
const CONSUMER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `id` cannot identify a consumer of a broadcast group, or undefined when it can. */
export function consumerIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'must not be empty in a broadcast group';
  if (id.length > MAX_CONSUMER_ID_LENGTH) return `must be at most ${MAX_CONSUMER_ID_LENGTH} characters`;
  if (!CONSUMER_ID.test(id))
    return 'must consist of letters, digits, ".", "_" and "-", starting with a letter or digit';
  return undefined;
}
