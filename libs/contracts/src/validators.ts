import { ValidationOptions, registerDecorator } from 'class-validator';

/** A flat record of finite numbers, e.g. `{ loss: 0.3, accuracy: 0.91 }`. */
export function IsMetrics(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) =>
    registerDecorator({
      name: 'isMetrics',
      target: target.constructor,
      propertyName: propertyKey as string,
      options: { message: `${String(propertyKey)} must map metric names to finite numbers`, ...options },
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          Object.entries(value).every(
            ([key, v]) => /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(key) && typeof v === 'number' && Number.isFinite(v),
          ),
      },
    });
}

/** A flat record of scalar hyperparameters passed through to user code. */
export function IsScalarRecord(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) =>
    registerDecorator({
      name: 'isScalarRecord',
      target: target.constructor,
      propertyName: propertyKey as string,
      options: {
        message: `${String(propertyKey)} must map names to numbers, strings or booleans`,
        ...options,
      },
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          Object.entries(value).every(
            ([key, v]) =>
              /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(key) &&
              (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))),
          ),
      },
    });
}
