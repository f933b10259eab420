/**
 * Turning what goes wrong into the API's error bodies, `{ "error": message }`: schema violations
 * as one sentence naming the offending field (Ajv's own messages leave out the field for missing
 * and unknown properties), the manager's VmmError with its status, everything else as 500 without
 * internals.
 */
import type { FastifyError, FastifySchemaValidationError } from 'fastify';
import { VmmError } from '../vmm/types.js';

/** One validation error as "body/memoryMiB must be >= 16". */
export function describeValidationError(error: FastifySchemaValidationError, dataVar: string): string {
  const params = error.params as Record<string, unknown>;
  const at = `${dataVar}${error.instancePath}`;
  switch (error.keyword) {
    case 'required':
      return `${at}/${String(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${at}/${String(params.additionalProperty)} is not allowed (unknown property)`;
    case 'enum':
      return `${at} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at} ${error.message ?? 'is invalid'}`;
  }
}

/** Fastify's `schemaErrorFormatter`: the first error is enough to fix a request, so report that one. */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const message = errors.length > 0 ? describeValidationError(errors[0], dataVar) : `${dataVar} is invalid`;
  return new Error(message);
}

export interface ErrorReply {
  status: number;
  message: string;
  /** Whether the daemon's log should carry the stack (unexpected failures only). */
  unexpected: boolean;
}

export function errorReply(error: unknown): ErrorReply {
  if (error instanceof VmmError) return { status: error.status, message: error.message, unexpected: false };
  const fe = error as Partial<FastifyError>;
  // Fastify's own errors (bad JSON, wrong content type, body too large, validation) carry a 4xx
  // status and a message meant for the client.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, message: fe.message ?? 'bad request', unexpected: false };
  }
  return { status: 500, message: 'internal error (see the daemon log)', unexpected: true };
}
