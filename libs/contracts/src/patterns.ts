/** The name rules of the wire, defined once. */

/** Project ids, learner ids and MQTT client ids: safe in topics, file names and registry paths. */
export const IDENTIFIER = /^[A-Za-z0-9_-]{1,64}$/;

/** An OCI registry repository path, e.g. `flops/learners/digits-1a2b3c4d`. */
export const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/** Metric and hyperparameter names (no dots: MongoDB-wire servers refuse them in keys). */
export const RECORD_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** A data tag a learner loads its data by, e.g. `digits` or `mnist:train`. */
export const DATA_TAG = /^[A-Za-z0-9._:-]{1,100}$/;

/** The longest free text (a failure's or a cancellation's reason) any message or record carries. */
export const MAX_REASON_LENGTH = 4000;

/** The longest image or artifact reference, URL or other identifying text a message carries. */
export const MAX_REFERENCE_LENGTH = 2000;

/** The longest id (task, message, learner) a message carries. */
export const MAX_ID_LENGTH = 200;
/** The most rounds a project may train for (also bounds a stored round history). */
export const MAX_ROUNDS = 1000;

/** Only the finite metrics with valid names: what a metrics map on the wire may hold. */
export function cleanMetrics(value: unknown): Record<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, number] => RECORD_KEY.test(e[0]) && typeof e[1] === 'number' && Number.isFinite(e[1])),
  );
}
