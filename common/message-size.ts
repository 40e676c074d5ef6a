// The size of a message as Herald limits it (a Topic's spec.maxMessageBytes, a Publish's
// byte limit): body, key, ref key, tags and properties, in bytes. The broker enforces it and the
// producer checks it before sending, with this one function. Pure.

export interface SizedMessage {
  body: Uint8Array;
  key?: string;
  refKey?: string;
  tags?: readonly string[];
  properties?: Record<string, string>;
}

export function messageSize(m: SizedMessage): number {
  let n = m.body.length + Buffer.byteLength(m.key ?? '') + Buffer.byteLength(m.refKey ?? '');
  for (const t of m.tags ?? []) n += Buffer.byteLength(t);
  for (const [k, v] of Object.entries(m.properties ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
