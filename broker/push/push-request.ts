// The body and headers of a push request for one partition's deliveries (docs/push.md): one
// message as its raw payload with its metadata in headers, or a JSON batch. Pure.
import type { Delivered } from '../delivery/group-cursor';
import type { PushPolicy } from '../../common/group-policy';
import type { PartitionRef } from '../../storage/storage';
import { messageId } from '../trace/message-id';
import { SIGNATURE_HEADER, signatureHeader } from './signature';

export const BATCH_CONTENT_TYPE = 'application/vnd.herald.push-batch+json';

export interface PushRequest {
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export function pushRequest(
  group: string,
  ref: PartitionRef,
  deliveries: Delivered[],
  policy: PushPolicy,
  now: number,
): PushRequest {
  const attempt = Math.max(...deliveries.map((d) => d.attempt));
  const headers: Record<string, string | string[]> = {
    ...policy.headers,
    'Herald-Topic': ref.topic,
    'Herald-Partition': String(ref.partition),
    'Herald-Group': group,
    'Herald-Attempt': String(attempt),
  };
  let body: Buffer;
  if (policy.batch.maxMessages === 1 && deliveries.length === 1) {
    const m = deliveries[0].message;
    body = m.body;
    headers['Content-Type'] = 'application/octet-stream';
    headers['Herald-Message-Id'] = messageId(ref, m.offset);
    headers['Herald-Offset'] = String(m.offset);
    headers['Herald-Published-At'] = String(m.publishedAt);
    if (m.key) headers['Herald-Key'] = encodeURIComponent(m.key);
    if (m.refKey) headers['Herald-Ref-Key'] = encodeURIComponent(m.refKey);
    if (m.tags.length > 0) headers['Herald-Tags'] = m.tags.join(',');
    const properties = Object.entries(m.properties);
    if (properties.length > 0)
      headers['Herald-Property'] = properties.map(
        ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`,
      );
  } else {
    body = Buffer.from(
      JSON.stringify({
        topic: ref.topic,
        partition: ref.partition,
        group,
        messages: deliveries.map(({ message: m, attempt: a }) => ({
          id: messageId(ref, m.offset),
          offset: m.offset,
          key: m.key,
          refKey: m.refKey,
          tags: m.tags,
          properties: m.properties,
          attempt: a,
          publishedAt: m.publishedAt,
          body: m.body.toString('base64'),
        })),
      }),
    );
    headers['Content-Type'] = BATCH_CONTENT_TYPE;
  }
  headers[SIGNATURE_HEADER] = signatureHeader(policy.signing.key, policy.signing.keyId, body, now);
  return { headers, body };
}
