import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { InfraConfig, IsPort, logLevelsFrom } from './common';
import { ConfigError, loadConfig } from './load-config';

/** A service config exercising every kind of setting loadConfig converts. */
class SampleConfig {
  @IsPort() SAMPLE_PORT = 3000;
  @IsInt() @Min(1) @Max(100) SAMPLE_WORKERS = 4;
  @IsBoolean() SAMPLE_VERBOSE = false;
  @IsBoolean() SAMPLE_ENABLED = true;
  @Matches(/^[a-z]+$/) SAMPLE_NAME = 'flops';
  @IsIn(['a', 'b']) SAMPLE_MODE = 'a';
  @IsOptional() @IsString() SAMPLE_OPTIONAL?: string;

  describe(): string {
    return `${this.SAMPLE_NAME}:${this.SAMPLE_PORT}`;
  }
}

class ExtendedInfraConfig extends InfraConfig {
  @IsInt() @Min(100) EXTRA_INTERVAL_MS = 2000;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses the class defaults when nothing is set', () => {
    const config = loadConfig(SampleConfig, {});
    expect({ ...config }).toEqual({
      SAMPLE_PORT: 3000,
      SAMPLE_WORKERS: 4,
      SAMPLE_VERBOSE: false,
      SAMPLE_ENABLED: true,
      SAMPLE_NAME: 'flops',
      SAMPLE_MODE: 'a',
      SAMPLE_OPTIONAL: undefined,
    });
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig(SampleConfig, { SAMPLE_PORT: '', SAMPLE_NAME: '', SAMPLE_VERBOSE: '' });
    expect(config.SAMPLE_PORT).toBe(3000);
    expect(config.SAMPLE_NAME).toBe('flops');
    expect(config.SAMPLE_VERBOSE).toBe(false);
  });

  it('converts numbers for numeric settings', () => {
    const config = loadConfig(SampleConfig, { SAMPLE_PORT: '8080', SAMPLE_WORKERS: ' 12 ' });
    expect(config.SAMPLE_PORT).toBe(8080);
    expect(config.SAMPLE_WORKERS).toBe(12);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['Yes', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
    ['NO', false],
  ])('converts %j to the boolean %p', (raw, value) => {
    expect(loadConfig(SampleConfig, { SAMPLE_VERBOSE: raw, SAMPLE_ENABLED: raw }).SAMPLE_VERBOSE).toBe(value);
    expect(loadConfig(SampleConfig, { SAMPLE_ENABLED: raw }).SAMPLE_ENABLED).toBe(value);
  });

  it('keeps strings as given', () => {
    const config = loadConfig(SampleConfig, { SAMPLE_NAME: 'custom', SAMPLE_MODE: 'b', SAMPLE_OPTIONAL: '42' });
    expect(config.SAMPLE_NAME).toBe('custom');
    expect(config.SAMPLE_MODE).toBe('b');
    expect(config.SAMPLE_OPTIONAL).toBe('42');
  });

  it('reads optional settings that have no default', () => {
    expect(loadConfig(SampleConfig, { SAMPLE_OPTIONAL: 'set' }).SAMPLE_OPTIONAL).toBe('set');
  });

  it('ignores variables the class does not declare', () => {
    const config = loadConfig(SampleConfig, { UNRELATED: 'x', PATH: '/bin', sample_port: '1' });
    expect(Object.keys(config)).not.toContain('UNRELATED');
    expect(config.SAMPLE_PORT).toBe(3000);
  });

  it('reads process.env when no environment is given', () => {
    process.env.SAMPLE_WORKERS = '7';
    try {
      expect(loadConfig(SampleConfig).SAMPLE_WORKERS).toBe(7);
    } finally {
      delete process.env.SAMPLE_WORKERS;
    }
  });

  it('returns a frozen instance of the class', () => {
    const config = loadConfig(SampleConfig, { SAMPLE_PORT: '1234' });
    expect(config).toBeInstanceOf(SampleConfig);
    expect(config.describe()).toBe('flops:1234');
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { SAMPLE_PORT: number }).SAMPLE_PORT = 1;
    }).toThrow(TypeError);
    expect(config.SAMPLE_PORT).toBe(1234);
  });

  it('gives each call its own object', () => {
    const a = loadConfig(SampleConfig, { SAMPLE_PORT: '1' });
    const b = loadConfig(SampleConfig, { SAMPLE_PORT: '2' });
    expect(a).not.toBe(b);
    expect([a.SAMPLE_PORT, b.SAMPLE_PORT]).toEqual([1, 2]);
  });

  it.each([
    ['SAMPLE_PORT', 'abc'],
    ['SAMPLE_PORT', '70000'],
    ['SAMPLE_PORT', '-1'],
    ['SAMPLE_PORT', '80.5'],
    ['SAMPLE_WORKERS', '0'],
    ['SAMPLE_VERBOSE', 'maybe'],
    ['SAMPLE_VERBOSE', '2'],
    ['SAMPLE_NAME', 'UPPER'],
    ['SAMPLE_MODE', 'c'],
  ])('refuses %s=%j, quoting the value', (key, raw) => {
    const error = errorOf(() => loadConfig(SampleConfig, { [key]: raw }));
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(problem.startsWith(`${key}=${JSON.stringify(raw)}:`)).toBe(true);
  });

  it('lists every bad variable, and only those', () => {
    const env = { SAMPLE_PORT: 'http', SAMPLE_WORKERS: '1000', SAMPLE_VERBOSE: 'perhaps', SAMPLE_NAME: 'good', SAMPLE_MODE: 'z' };
    const error = errorOf(() => loadConfig(SampleConfig, env));

    const named = new Set(error.problems.map((p) => p.slice(0, p.indexOf('='))));
    expect([...named].sort()).toEqual(['SAMPLE_MODE', 'SAMPLE_PORT', 'SAMPLE_VERBOSE', 'SAMPLE_WORKERS']);
    expect(error.name).toBe('ConfigError');
    expect(error.message.startsWith('invalid configuration:')).toBe(true);
    for (const problem of error.problems) expect(error.message).toContain(`  - ${problem}`);
  });

  it('also reports a bad default, quoting the default', () => {
    class BadDefault {
      @IsInt() @Min(10) LIMIT = 5;
    }
    expect(errorOf(() => loadConfig(BadDefault, {})).problems).toEqual([expect.stringMatching(/^LIMIT=5: /)]);
  });
});

describe('InfraConfig', () => {
  it('has working defaults for local development', () => {
    // toMatchObject: services may add shared settings; these must keep their local defaults.
    expect(loadConfig(InfraConfig, {})).toMatchObject({
      FLOPS_MQTT_URL: 'mqtt://127.0.0.1:1883',
      MONGO_URL: 'mongodb://127.0.0.1:27017/',
      FLOPS_DB_NAME: 'flops',
      FLOPS_REGISTRY_URL: 'http://127.0.0.1:5000',
      FLOPS_LOG_LEVEL: 'log',
    });
  });

  it('is extended by service configs, validating both parts', () => {
    const config = loadConfig(ExtendedInfraConfig, { FLOPS_MQTT_URL: 'mqtts://broker:8883', EXTRA_INTERVAL_MS: '500' });
    expect(config.FLOPS_MQTT_URL).toBe('mqtts://broker:8883');
    expect(config.EXTRA_INTERVAL_MS).toBe(500);

    const error = errorOf(() =>
      loadConfig(ExtendedInfraConfig, {
        FLOPS_MQTT_URL: 'http://broker',
        MONGO_URL: 'postgres://db',
        FLOPS_DB_NAME: 'bad name',
        FLOPS_REGISTRY_URL: 'registry:5000',
        FLOPS_LOG_LEVEL: 'trace',
        EXTRA_INTERVAL_MS: '5',
      }),
    );
    const named = new Set(error.problems.map((p) => p.slice(0, p.indexOf('='))));
    expect([...named].sort()).toEqual(['EXTRA_INTERVAL_MS', 'FLOPS_DB_NAME', 'FLOPS_LOG_LEVEL', 'FLOPS_MQTT_URL', 'FLOPS_REGISTRY_URL', 'MONGO_URL']);
  });
});

describe('logLevelsFrom', () => {
  it.each([
    ['error', ['error']],
    ['warn', ['error', 'warn']],
    ['log', ['error', 'warn', 'log']],
    ['verbose', ['error', 'warn', 'log', 'debug', 'verbose']],
  ] as const)('%s → %j', (level, levels) => {
    expect(logLevelsFrom(level)).toEqual(levels);
  });
});
