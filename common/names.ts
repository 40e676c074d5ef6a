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
