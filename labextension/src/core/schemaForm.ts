/**
 * Form fields generated from the cluster-options JSON schema of GET profiles, and the request
 * body made back from what the user typed.
 */
import type { JSONSchema, ProfileInfo } from './types';

export type FieldKind = 'integer' | 'number' | 'string' | 'boolean' | 'enum' | 'json';

export interface FormField {
  name: string;
  label: string;
  kind: FieldKind;
  description: string;
  /** The default shown (profile option > schema default). */
  value: unknown;
  options: unknown[];
  minimum?: number;
  maximum?: number;
  required: boolean;
  /** null is allowed (an empty input means null). */
  nullable: boolean;
}

/** The non-null type of a schema (from "type", a ["x", "null"] list, or anyOf/oneOf). */
function baseType(schema: JSONSchema): { type: string; nullable: boolean; enumValues?: unknown[] } {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    const nonNull = alternatives.filter(s => s.type !== 'null');
    const nullable = nonNull.length < alternatives.length;
    const inner = nonNull[0] ? baseType(nonNull[0]) : { type: 'string', nullable: true };
    return { ...inner, nullable: nullable || inner.nullable };
  }
  if (Array.isArray(schema.type)) {
    const nonNull = schema.type.filter(t => t !== 'null');
    return { type: nonNull[0] ?? 'string', nullable: nonNull.length < schema.type.length, enumValues: schema.enum };
  }
  return { type: schema.type ?? (schema.enum ? 'enum' : 'string'), nullable: false, enumValues: schema.enum };
}

/** Turns "threads_per_worker" into "Threads per worker". */
export function labelOf(name: string): string {
  const words = name.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The fields of the schema's properties, in schema order, with defaults from the profile if given. */
export function fieldsFromSchema(schema: JSONSchema, profile?: ProfileInfo | null): FormField[] {
  const required = new Set(schema.required ?? []);
  const fields: FormField[] = [];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (name === 'profile') {
      continue; // chosen with the profile select
    }
    const { type, nullable, enumValues } = baseType(prop);
    const kind: FieldKind = enumValues
      ? 'enum'
      : type === 'integer' || type === 'number' || type === 'boolean'
        ? (type as FieldKind)
        : type === 'object' || type === 'array'
          ? 'json'
          : 'string';
    const fromProfile = profile?.options && name in profile.options ? profile.options[name] : undefined;
    fields.push({
      name,
      label: prop.title ?? labelOf(name),
      kind,
      description: prop.description ?? '',
      value: fromProfile !== undefined ? fromProfile : prop.default !== undefined ? prop.default : null,
      options: enumValues ? [...enumValues] : [],
      minimum: prop.minimum,
      maximum: prop.maximum,
      required: required.has(name),
      nullable
    });
  }
  return fields;
}

/** What an input shows for a value. */
export function displayValue(field: FormField, value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (field.kind === 'boolean') {
    return value ? 'true' : 'false';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Parses one input's text; returns the value or throws an Error saying what is wrong. */
export function parseField(field: FormField, raw: string | boolean): unknown {
  if (field.kind === 'boolean') {
    return raw === true || raw === 'true';
  }
  const text = String(raw).trim();
  if (text === '') {
    if (field.required && !field.nullable) {
      throw new Error(`${field.label} is required.`);
    }
    return null;
  }
  switch (field.kind) {
    case 'integer':
    case 'number': {
      const n = Number(text);
      if (!isFinite(n) || (field.kind === 'integer' && !Number.isInteger(n))) {
        throw new Error(`${field.label} must be ${field.kind === 'integer' ? 'a whole number' : 'a number'}.`);
      }
      if (field.minimum !== undefined && n < field.minimum) {
        throw new Error(`${field.label} must be at least ${field.minimum}.`);
      }
      if (field.maximum !== undefined && n > field.maximum) {
        throw new Error(`${field.label} must be at most ${field.maximum}.`);
      }
      return n;
    }
    case 'enum': {
      const match = field.options.find(o => displayValue(field, o) === text);
      if (match === undefined) {
        throw new Error(`${field.label} must be one of ${field.options.map(o => displayValue(field, o)).join(', ')}.`);
      }
      return match;
    }
    case 'json': {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new Error(`${field.label} must be JSON, e.g. {"NAME": "value"}.`);
      }
      return v;
    }
    default:
      return text;
  }
}

/**
 * The POST clusters body from the inputs' raw values: {profile, ...fields}; empty optional
 * fields are left out (the server's default applies). Throws the first field error.
 */
export function bodyFromInputs(
  fields: FormField[],
  raw: { [name: string]: string | boolean },
  profile: string | null
): { [key: string]: unknown } {
  const body: { [key: string]: unknown } = {};
  if (profile) {
    body.profile = profile;
  }
  for (const f of fields) {
    const value = parseField(f, raw[f.name] ?? '');
    if (value !== null) {
      body[f.name] = value;
    }
  }
  return body;
}
