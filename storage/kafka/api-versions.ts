// kafkajs sends the highest version of each request that both it and the broker implement,
// and never checks the broker's minimum: a Kafka that dropped an old version would fail only
// at run time, on the first such request. So the adapter checks the broker's ApiVersions
// answer against what kafkajs will send, at start-up. Pure; unit-tested (the table against
// kafkajs' own request definitions). Names are kafkajs': GroupCoordinator is FindCoordinator.
// Herald's own Produce and Fetch requests (produce.ts, fetch.ts) have one version each, which
// the broker must accept.
import { FETCH_API_KEY, FETCH_VERSION } from './fetch';
import { PRODUCE_API_KEY, PRODUCE_VERSION } from './produce';

/** The requests this adapter's kafkajs clients send, with the highest version kafkajs 2.2.4 has. */
export const KAFKAJS_MAX_VERSIONS: Record<string, { apiKey: number; maxVersion: number }> = {
  ListOffsets: { apiKey: 2, maxVersion: 3 },
  Metadata: { apiKey: 3, maxVersion: 6 },
  OffsetCommit: { apiKey: 8, maxVersion: 5 },
  OffsetFetch: { apiKey: 9, maxVersion: 4 },
  GroupCoordinator: { apiKey: 10, maxVersion: 2 },
  ApiVersions: { apiKey: 18, maxVersion: 2 },
  CreateTopics: { apiKey: 19, maxVersion: 3 },
  DeleteTopics: { apiKey: 20, maxVersion: 1 },
  InitProducerId: { apiKey: 22, maxVersion: 1 },
  DescribeConfigs: { apiKey: 32, maxVersion: 2 },
  AlterConfigs: { apiKey: 33, maxVersion: 1 },
  CreatePartitions: { apiKey: 37, maxVersion: 1 },
};

/** The requests Herald encodes itself, each at its one version. */
const HERALD_VERSIONS: Record<string, { apiKey: number; version: number }> = {
  Produce: { apiKey: PRODUCE_API_KEY, version: PRODUCE_VERSION },
  Fetch: { apiKey: FETCH_API_KEY, version: FETCH_VERSION },
};

/** A broker's ApiVersions answer as kafkajs gives it: api key -> supported range. */
export type BrokerVersions = Record<number, { minVersion: number; maxVersion: number } | undefined>;

/**
 * What cannot work against this broker: each request whose version kafkajs would pick
 * (min of its max and the broker's max), or Herald's own version, is outside the broker's
 * range. Empty when all is well.
 */
export function unsupportedRequests(broker: BrokerVersions): string[] {
  const problems: string[] = [];
  for (const [name, { apiKey, maxVersion }] of Object.entries(KAFKAJS_MAX_VERSIONS)) {
    const range = broker[apiKey];
    if (!range) {
      problems.push(`${name} (the broker does not implement it)`);
      continue;
    }
    const sent = Math.min(maxVersion, range.maxVersion);
    if (sent < range.minVersion) {
      problems.push(`${name} v${sent} (the broker accepts v${range.minVersion}-v${range.maxVersion})`);
    }
  }
  for (const [name, { apiKey, version }] of Object.entries(HERALD_VERSIONS)) {
    const range = broker[apiKey];
    if (!range) problems.push(`${name} (the broker does not implement it)`);
    else if (version < range.minVersion || version > range.maxVersion)
      problems.push(
        `${name} v${version}, Herald's own (the broker accepts v${range.minVersion}-v${range.maxVersion})`,
      );
  }
  return problems;
}
