// Each topic's message store, chosen by its storage kind (Topic spec.storage), behind the
// per-partition calls of the delivery path, Admin and maintenance: they pass a partition or a
// commit and never ask which store holds it.
import type { Storage } from '../storage/index';
import type { MessageStore, OffsetCommit } from '../storage/index';
import type { Topics } from './topics';

export type RoutedCalls =
  | 'lastOffset'
  | 'read'
  | 'readOffsets'
  | 'committedOffset'
  | 'commitOffsets'
  | 'forceCommittedOffset'
  | 'offsetAtTime'
  | 'firstOffset'
  | 'maintainSegments';

export type TopicStores = Pick<MessageStore, RoutedCalls> & {
  /** The topic's message store (TOPIC_NOT_FOUND for an unknown topic). */
  of(topic: string): MessageStore;
};

export function topicStores(storage: Storage, topics: Topics): TopicStores {
  const of = (topic: string) => storage.messages(topics.topic(topic).storage);
  return {
    of,
    lastOffset: (ref) => of(ref.topic).lastOffset(ref),
    read: (ref, after, limit, lane) => of(ref.topic).read(ref, after, limit, lane),
    readOffsets: (ref, offsets) => of(ref.topic).readOffsets(ref, offsets),
    committedOffset: (group, ref) => of(ref.topic).committedOffset(group, ref),
    forceCommittedOffset: (group, ref, offset) => of(ref.topic).forceCommittedOffset(group, ref, offset),
    offsetAtTime: (ref, at) => of(ref.topic).offsetAtTime(ref, at),
    firstOffset: (ref) => of(ref.topic).firstOffset(ref),
    maintainSegments: (ref, end, segment, before) =>
      of(ref.topic).maintainSegments(ref, end, segment, before),
    async commitOffsets(commits) {
      const byStore = new Map<MessageStore, OffsetCommit[]>();
      for (const c of commits) {
        const store = of(c.ref.topic);
        byStore.set(store, [...(byStore.get(store) ?? []), c]);
      }
      await Promise.all([...byStore].map(([store, list]) => store.commitOffsets(list)));
    },
  };
}
