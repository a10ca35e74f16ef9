/** The "New cluster" form: inputs generated from GET profiles' JSON schema, a profile select filling defaults. */
import { bodyFromInputs, displayValue, fieldsFromSchema, type FormField } from '../core/schemaForm';
import type { Cluster, ProfilesReply } from '../core/types';
import { button, clear, h, select } from '../panes/dom';
import type { FuturesApi } from './api';

/** The form element and its submit logic (POST clusters). */
export class ClusterForm {
  readonly node: HTMLElement;
  private fieldsNode: HTMLElement;
  private errorNode: HTMLElement;
  private submitButton: HTMLButtonElement;
  private reply: ProfilesReply | null = null;
  private profile = '';
  private fields: FormField[] = [];
  private inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  private nameInput: HTMLInputElement;

  constructor(
    private api: FuturesApi,
    private onCreated: (cluster: Cluster) => void,
    private onCancel: () => void
  ) {
    this.nameInput = h('input', { className: 'jf-input', name: 'name', placeholder: 'optional', 'aria-label': 'Name' });
    this.fieldsNode = h('div', { className: 'jf-form-fields' }, 'Loading the cluster options…');
    this.errorNode = h('div', { className: 'jf-error', role: 'alert', hidden: true });
    this.submitButton = button('Start cluster', () => void this.submit(), { className: 'jf-button jf-mod-accept jf-form-submit' });
    this.node = h(
      'form',
      { className: 'jf-cluster-form', 'aria-label': 'New cluster' },
      h('div', { className: 'jf-form-title' }, 'New cluster'),
      this.fieldsNode,
      this.errorNode,
      h('div', { className: 'jf-form-buttons' }, this.submitButton, button('Cancel', () => this.onCancel()))
    );
    this.node.addEventListener('submit', e => {
      e.preventDefault();
      void this.submit();
    });
  }

  /** Loads the profiles and schema (again) and renders the inputs. */
  async load(): Promise<void> {
    this.showError(null);
    try {
      this.reply = await this.api.profiles();
      this.profile = this.reply.profiles[0]?.name ?? '';
      this.render();
    } catch (err) {
      clear(this.fieldsNode);
      this.showError(`Could not load the cluster options: ${(err as Error).message}`);
    }
  }

  private render(): void {
    const reply = this.reply!;
    const profile = reply.profiles.find(p => p.name === this.profile) ?? null;
    this.fields = fieldsFromSchema(reply.schema ?? {}, profile).filter(f => f.name !== 'name');
    clear(this.fieldsNode);
    this.inputs.clear();
    if (reply.profiles.length) {
      const profileSelect = select(
        reply.profiles.map(p => [p.name, p.name] as [string, string]),
        this.profile,
        v => {
          this.profile = v;
          this.render();
        },
        { name: 'profile', 'aria-label': 'Profile' }
      );
      this.fieldsNode.append(
        row('Profile', profileSelect, profile?.description ?? ''),
        row('Name', this.nameInput, 'Shown in the sidebar; a name is made up when empty.')
      );
    } else {
      this.fieldsNode.append(row('Name', this.nameInput, ''));
    }
    for (const f of this.fields) {
      const input = inputFor(f);
      this.inputs.set(f.name, input);
      this.fieldsNode.append(row(f.label, input, f.description, f.kind === 'boolean'));
    }
  }

  private async submit(): Promise<void> {
    if (!this.reply) {
      return;
    }
    const raw: { [k: string]: string | boolean } = {};
    for (const [name, input] of this.inputs) {
      raw[name] = input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
    }
    let body: { [k: string]: unknown };
    try {
      body = bodyFromInputs(this.fields, raw, this.profile || null);
    } catch (err) {
      this.showError((err as Error).message);
      return;
    }
    if (this.nameInput.value.trim()) {
      body.name = this.nameInput.value.trim();
    }
    this.showError(null);
    this.submitButton.disabled = true;
    this.submitButton.textContent = 'Starting…';
    try {
      const cluster = await this.api.createCluster(body);
      this.nameInput.value = '';
      this.onCreated(cluster);
    } catch (err) {
      this.showError(`The cluster did not start: ${(err as Error).message}`);
    } finally {
      this.submitButton.disabled = false;
      this.submitButton.textContent = 'Start cluster';
    }
  }

  private showError(message: string | null): void {
    this.errorNode.hidden = message === null;
    this.errorNode.textContent = message ?? '';
  }
}

/** The input element of a field, showing its default. */
function inputFor(f: FormField): HTMLInputElement | HTMLSelectElement {
  if (f.kind === 'boolean') {
    const box = h('input', { type: 'checkbox', name: f.name });
    box.checked = !!f.value;
    return box;
  }
  if (f.kind === 'enum') {
    const options = f.options.map(o => [displayValue(f, o), displayValue(f, o)] as [string, string]);
    if (f.nullable || f.value === null) {
      options.unshift(['', '(default)']);
    }
    return select(options, displayValue(f, f.value), () => {}, { name: f.name, 'aria-label': f.label });
  }
  const input = h('input', {
    className: 'jf-input',
    name: f.name,
    type: f.kind === 'integer' || f.kind === 'number' ? 'number' : 'text',
    'aria-label': f.label,
    min: f.minimum,
    max: f.maximum,
    step: f.kind === 'integer' ? 1 : f.kind === 'number' ? 'any' : undefined,
    placeholder: f.nullable || !f.required ? 'default' : ''
  });
  input.value = displayValue(f, f.value);
  return input;
}

function row(label: string, input: HTMLElement, help: string, inline = false): HTMLElement {
  return h(
    'label',
    { className: `jf-form-row${inline ? ' jf-mod-inline' : ''}` },
    h('span', { className: 'jf-form-label' }, label),
    input,
    help ? h('span', { className: 'jf-form-help' }, help) : null
  );
}
