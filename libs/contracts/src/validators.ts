import { ValidationOptions, registerDecorator } from 'class-validator';
import { RECORD_KEY } from './patterns';


/** A decorator for a flat object whose keys are identifiers and whose values pass `isValue`. */
function flatRecord(name: string, describe: string, isValue: (v: unknown) => boolean) {
  return (options?: ValidationOptions): PropertyDecorator =>
    (target, propertyKey) =>
      registerDecorator({
        name,
        target: target.constructor,
        propertyName: propertyKey as string,
        options: { message: `${String(propertyKey)} must map ${describe}`, ...options },
        validator: {
          validate: (value: unknown) =>
            typeof value === 'object' &&
            value !== null &&
            !Array.isArray(value) &&
            Object.entries(value).every(([key, v]) => RECORD_KEY.test(key) && isValue(v)),
        },
      });
}

const finiteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/** A flat record of finite numbers, e.g. `{ loss: 0.3, accuracy: 0.91 }`. */
export const IsMetrics = flatRecord('isMetrics', 'metric names to finite numbers', finiteNumber);

/** A flat record of scalar hyperparameters passed through to user code. */
export const IsScalarRecord = flatRecord(
  'isScalarRecord',
  'names to numbers, strings or booleans',
  (v) => typeof v === 'string' || typeof v === 'boolean' || finiteNumber(v),
);

const isMetricRecord = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.entries(v).every(([k, x]) => RECORD_KEY.test(k) && finiteNumber(x));

/** Metrics per learner: `{ "learner-0": { accuracy: 0.9 }, … }`. */
export const IsLearnerMetrics = flatRecord('isLearnerMetrics', 'learner ids to metric records', isMetricRecord);
