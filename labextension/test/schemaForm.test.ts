import { describe, expect, it } from 'vitest';
import { bodyFromInputs, displayValue, fieldsFromSchema, parseField } from '../src/core/schemaForm';
import type { JSONSchema } from '../src/core/types';

const schema: JSONSchema = {
  type: 'object',
  required: ['workers'],
  properties: {
    name: { type: 'string', title: 'Name', default: '' },
    workers: { type: 'integer', minimum: 0, default: 2, description: 'How many workers' },
    threads_per_worker: { type: ['integer', 'null'], minimum: 1 },
    memory_limit: { anyOf: [{ type: 'string' }, { type: 'null' }], default: 'auto' },
    processes: { type: 'boolean', default: true },
    scheduler_load: { type: 'number' },
    mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
    env: { type: 'object', default: {} },
    profile: { type: 'string' }
  }
};

describe('schema to form', () => {
  it('makes one field per property with kind, label and default', () => {
    const fields = fieldsFromSchema(schema);
    expect(fields.map(f => [f.name, f.kind])).toEqual([
      ['name', 'string'],
      ['workers', 'integer'],
      ['threads_per_worker', 'integer'],
      ['memory_limit', 'string'],
      ['processes', 'boolean'],
      ['scheduler_load', 'number'],
      ['mode', 'enum'],
      ['env', 'json']
    ]);
    const byName = Object.fromEntries(fields.map(f => [f.name, f]));
    expect(byName.threads_per_worker.label).toBe('Threads per worker');
    expect(byName.threads_per_worker.nullable).toBe(true);
    expect(byName.memory_limit.nullable).toBe(true);
    expect(byName.workers).toMatchObject({ value: 2, required: true, minimum: 0, description: 'How many workers' });
    expect(byName.mode.options).toEqual(['fast', 'safe']);
  });

  it('takes defaults from the chosen profile first', () => {
    const fields = fieldsFromSchema(schema, { name: 'big', description: '', options: { workers: 8, mode: 'fast' } });
    const byName = Object.fromEntries(fields.map(f => [f.name, f]));
    expect(byName.workers.value).toBe(8);
    expect(byName.mode.value).toBe('fast');
    expect(byName.processes.value).toBe(true);
  });

  it('parses and validates inputs', () => {
    const byName = Object.fromEntries(fieldsFromSchema(schema).map(f => [f.name, f]));
    expect(parseField(byName.workers, ' 3 ')).toBe(3);
    expect(() => parseField(byName.workers, '2.5')).toThrow(/whole number/);
    expect(() => parseField(byName.workers, '-1')).toThrow(/at least 0/);
    expect(() => parseField(byName.workers, '')).toThrow(/required/);
    expect(parseField(byName.threads_per_worker, '')).toBeNull();
    expect(parseField(byName.scheduler_load, '0.5')).toBe(0.5);
    expect(parseField(byName.processes, false)).toBe(false);
    expect(parseField(byName.mode, 'fast')).toBe('fast');
    expect(() => parseField(byName.mode, 'slow')).toThrow(/one of fast, safe/);
    expect(displayValue(byName.processes, true)).toBe('true');
    expect(displayValue(byName.env, {})).toBe('{}');
    expect(parseField(byName.env, '{"A": "1"}')).toEqual({ A: '1' });
    expect(() => parseField(byName.env, '{A')).toThrow(/must be JSON/);
  });

  it('builds the POST body, leaving out empty optional fields', () => {
    const fields = fieldsFromSchema(schema);
    expect(
      bodyFromInputs(fields, { name: 'c1', workers: '2', threads_per_worker: '', memory_limit: '1GB', processes: true, mode: 'safe', env: '' }, 'default')
    ).toEqual({ profile: 'default', name: 'c1', workers: 2, memory_limit: '1GB', processes: true, mode: 'safe' });
  });
});
