// The console API's answers (docs/console.md), typed once for the operator's handlers and the
// page (web/app.ts imports these types only).
import type { DeadLetter } from '../../proto/gen/herald/v1/DeadLetter';
import type { Delivery } from '../../proto/gen/herald/v1/Delivery';
import type { PartitionLag } from '../../proto/gen/herald/v1/PartitionLag';
import type { PartitionReset } from '../../proto/gen/herald/v1/PartitionReset';
import type { PeekResponse } from '../../proto/gen/herald/v1/PeekResponse';
import type { TraceEvent } from '../../proto/gen/herald/v1/TraceEvent';
import type { ConsumerGroup, Topic } from '../gen/crds';
import type { Series } from './series';
import type { BrokerView, GroupSummary, NotReady, ResetPreview, TopicSummary } from './views';

export type { ConsumerGroup, PartitionLag, Series, Topic, TraceEvent };

export interface Problem {
  status: number;
  reason: string;
  detail: string;
  metadata: Record<string, string>;
}

export interface SessionAnswer {
  subject: string;
  defaultNamespace: string;
}

export interface OverviewAnswer {
  pools: { name: string; replicas: number; readyReplicas: number }[];
  brokers: BrokerView[];
  topics: TopicSummary[];
  groups: GroupSummary[];
  notReady: NotReady[];
}

export interface TopicAnswer {
  topic: Topic;
  partitions: { partition: number; broker: string; address: string; epoch: number }[];
  series: Series;
}

export interface GroupAnswer {
  group: ConsumerGroup;
  /** Null when the broker refused or could not answer (lagError says why). */
  lag: PartitionLag[] | null;
  lagError?: Problem;
  deadLetters: number | null;
  series: Series;
}

export interface WriteAnswer {
  created: boolean;
}

export type ResetAnswer = { preview: ResetPreview[] } | { partitions: PartitionReset[]; lag: PartitionLag[] };

export interface TraceAnswer {
  events: TraceEvent[];
}

/** A message in JSON: the body as base64, and as text when it is UTF-8. */
export type MessageJson = Omit<Delivery, 'body'> & { body: string; bodyText?: string };

export type DeadLetterJson = Omit<DeadLetter, 'message'> & { message: MessageJson };

/** A page of a partition's messages (Admin Peek). */
export type MessagesAnswer = Omit<PeekResponse, 'messages'> & { messages: MessageJson[] };

export interface DeadLettersAnswer {
  deadLetters: DeadLetterJson[];
}
