import { Metadata, status } from '@grpc/grpc-js';
import { HeraldError, REASONS } from '../../../common/errors';
import { toServiceError } from '../../../common/grpc/status';
import { STATUS_DETAILS_KEY, readErrorInfo } from '../../../common/errors';
import { loadProtos } from '../../../proto/load';

test('a HeraldError becomes its gRPC code with ErrorInfo in grpc-status-details-bin', () => {
  const err = new HeraldError('NOT_PARTITION_OWNER', 'not mine', { owner: '10.0.0.1:7600', partition: '3' });
  const s = toServiceError(err);
  expect(s.code).toBe(status.FAILED_PRECONDITION);
  expect(s.details).toBe('not mine');
  expect(readErrorInfo({ metadata: s.metadata })).toEqual({
    reason: 'NOT_PARTITION_OWNER',
    domain: 'herald.dev',
    metadata: { owner: '10.0.0.1:7600', partition: '3' },
  });
  const raw = s.metadata!.get(STATUS_DETAILS_KEY)[0] as Buffer;
  const decoded = loadProtos().grpc.google.rpc.Status.deserialize(raw);
  expect(decoded.code).toBe(status.FAILED_PRECONDITION);
  expect(decoded.details[0].type_url).toBe('type.googleapis.com/google.rpc.ErrorInfo');
});

test('every reason has the code and retriability its documentation promises', () => {
  expect(REASONS.TOPIC_NOT_FOUND).toEqual({ code: status.NOT_FOUND, retriable: false });
  expect(REASONS.STORAGE_UNAVAILABLE).toEqual({ code: status.UNAVAILABLE, retriable: true });
  expect(REASONS.MESSAGE_TOO_LARGE.code).toBe(status.INVALID_ARGUMENT);
  expect(REASONS.PARTITION_FENCED).toEqual({ code: status.ABORTED, retriable: true });
  const err = new HeraldError('SHUTTING_DOWN', 'bye');
  expect([err.code, err.retriable]).toEqual([status.UNAVAILABLE, true]);
});

test('an unknown error becomes INTERNAL with reason INTERNAL_ERROR', () => {
  const s = toServiceError(new TypeError('boom'));
  expect(s.code).toBe(status.INTERNAL);
  expect(readErrorInfo({ metadata: s.metadata })?.reason).toBe('INTERNAL_ERROR');
});

test('a status without details has no ErrorInfo', () => {
  expect(readErrorInfo({ metadata: new Metadata() })).toBeUndefined();
});
