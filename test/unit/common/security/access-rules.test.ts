import {
  ALL,
  AccessRules,
  heraldUserSubject,
  patternMatches,
  serviceAccountSubject,
} from '../../../../common/security/access-rules';
import type { AccessRequest } from '../../../../common/security/access-rules';

const writer = serviceAccountSubject('apps', 'orders-writer');
const reader = heraldUserSubject('partners', 'acme');

const rules = new AccessRules([
  { subjects: [writer], rules: [{ operations: ['publish'], topics: [{ name: 'orders' }] }] },
  {
    subjects: [reader],
    rules: [
      { operations: ['consume'], topics: [{ prefix: 'billing.' }], groups: [{ name: 'acme-billing' }] },
    ],
  },
  {
    subjects: ['system:serviceaccount:ops:admin'],
    rules: [{ operations: ['admin'], topics: [{ prefix: '' }], groups: [{ prefix: '' }] }],
  },
]);

const publish = (topic: string): AccessRequest => ({
  operation: 'publish',
  resources: [{ kind: 'topic', name: topic }],
});
const consume = (topic: string, group: string): AccessRequest => ({
  operation: 'consume',
  resources: [
    { kind: 'topic', name: topic },
    { kind: 'group', name: group },
  ],
});

test('subjects are named as Kubernetes and Herald name them', () => {
  expect(writer).toBe('system:serviceaccount:apps:orders-writer');
  expect(reader).toBe('herald:user:partners:acme');
});

test('a rule allows its operation on the resources it names, and nothing else', () => {
  expect(rules.allows(writer, publish('orders'))).toBe(true);
  expect(rules.allows(writer, publish('orders2'))).toBe(false);
  expect(rules.allows(writer, consume('orders', 'g'))).toBe(false);
  expect(rules.allows(reader, consume('billing.eu', 'acme-billing'))).toBe(true);
  expect(rules.allows(reader, consume('billing.eu', 'other'))).toBe(false);
  expect(rules.allows(reader, publish('billing.eu'))).toBe(false);
});

test('deny by default: an unknown subject, and a request without resources in the rule', () => {
  expect(rules.allows('system:serviceaccount:apps:nobody', publish('orders'))).toBe(false);
  expect(new AccessRules([]).allows(writer, publish('orders'))).toBe(false);
  // A consume needs its group in the same rule as its topic.
  const topicOnly = new AccessRules([
    { subjects: [writer], rules: [{ operations: ['consume'], topics: [{ prefix: '' }] }] },
  ]);
  expect(topicOnly.allows(writer, consume('orders', 'g'))).toBe(false);
});

test('rules of several grants for one subject add up', () => {
  const both = new AccessRules([
    { subjects: [writer], rules: [{ operations: ['publish'], topics: [{ name: 'a' }] }] },
    { subjects: [writer, reader], rules: [{ operations: ['publish'], topics: [{ name: 'b' }] }] },
  ]);
  expect([both.allows(writer, publish('a')), both.allows(writer, publish('b'))]).toEqual([true, true]);
  expect([both.allows(reader, publish('a')), both.allows(reader, publish('b'))]).toEqual([false, true]);
});

test('"every topic" is covered only by the empty prefix', () => {
  expect(patternMatches({ prefix: '' }, ALL)).toBe(true);
  expect(patternMatches({ prefix: 'o' }, ALL)).toBe(false);
  expect(patternMatches({ name: ALL }, ALL)).toBe(false);
  expect(patternMatches({ name: 'orders' }, 'orders')).toBe(true);
  expect(patternMatches({ prefix: 'ord' }, 'orders')).toBe(true);
  const admin = 'system:serviceaccount:ops:admin';
  expect(rules.allows(admin, { operation: 'admin', resources: [{ kind: 'topic', name: ALL }] })).toBe(true);
});
