import { describe, expect, it } from 'vitest';
import {
  REASON_GONE,
  REASON_RESTARTED,
  REASON_STOPPED,
  bundleText,
  isLiveOutput,
  isStaleFor,
  reasonForStatus,
  staleBundle,
  staleOutput,
  tidyText
} from '../src/lab/staleOutputs';

const live = (kernel: string | null, kind = 'future') => ({ jupyter_futures: { live: true, kind, kernel_id: kernel } });
const FUTURE_HTML = '<div class="jf-future" data-status="running" data-key="nap-1">nap &lt;b&gt; running</div>';

describe('stale outputs', () => {
  it('knows a live jupyter_futures output from anything else', () => {
    expect(isLiveOutput(live('k1'))).toBe(true);
    expect(isLiveOutput({ jupyter_futures: { live: false, kind: 'future', kernel_id: 'k1' } })).toBe(false);
    expect(isLiveOutput({ jupyter_futures: { live: 'true' } })).toBe(false);
    expect(isLiveOutput({ jupyter_futures: [true] as any })).toBe(false);
    expect(isLiveOutput({ other: { live: true } })).toBe(false);
    expect(isLiveOutput({})).toBe(false);
    expect(isLiveOutput(undefined)).toBe(false);
  });

  it('is stale for another kernel, or for no kernel at all', () => {
    expect(isStaleFor(live('k1'), 'k1')).toBe(false);
    expect(isStaleFor(live('k1'), 'k2')).toBe(true);
    expect(isStaleFor(live('k1'), null)).toBe(true);
    expect(isStaleFor(live(null), 'k2')).toBe(true);
    expect(isStaleFor({ jupyter_futures: { live: false, kernel_id: 'k0' } }, 'k2')).toBe(false);
  });

  it('says why a kernel status ends the live displays', () => {
    expect(reasonForStatus('restarting')).toBe(REASON_RESTARTED);
    expect(reasonForStatus('autorestarting')).toBe(REASON_RESTARTED);
    expect(reasonForStatus('dead')).toBe(REASON_STOPPED);
    for (const status of ['idle', 'busy', 'starting', 'unknown', 'terminating', 'connecting']) {
      expect(reasonForStatus(status)).toBeNull();
    }
  });

  it('frames the snapshot like the kernel does, the reason escaped and the html taken as is', () => {
    const bundle = staleBundle(FUTURE_HTML, 'Future nap-1: running', REASON_RESTARTED);
    expect(bundle['text/plain']).toBe('(no longer live: the kernel restarted)\nFuture nap-1: running');
    const html = bundle['text/html'];
    expect(html.startsWith('<div class="jf-not-live" data-reason="the kernel restarted"><div class="jf-not-live-note" style="')).toBe(true);
    expect(html).toContain('">no longer live: the kernel restarted</div>' + FUTURE_HTML + '</div>');
    expect(html.endsWith(FUTURE_HTML + '</div>')).toBe(true);
    const odd = staleBundle('<i>x</i>', 'x', '<script>"&\'');
    expect(odd['text/html']).toContain('data-reason="&lt;script&gt;&quot;&amp;&#39;"');
    expect(odd['text/html']).toContain('no longer live: &lt;script&gt;&quot;&amp;&#39;</div><i>x</i></div>');
    expect(odd['text/html']).not.toContain('<script>');
  });

  it('is byte for byte what the kernel sends (render.not_live_html / not_live_text)', () => {
    const kernel =
      '<div class="jf-not-live" data-reason="the kernel restarted"><div class="jf-not-live-note" style="font-family: ' +
      "var(--jp-ui-font-family, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif); font-size:11.5px; " +
      'color: var(--jp-content-font-color2, #666); padding:0 10px">no longer live: the kernel restarted</div><i>x</i></div>';
    expect(staleBundle('<i>x</i>', 'x', REASON_RESTARTED)).toEqual({
      'text/html': kernel,
      'text/plain': '(no longer live: the kernel restarted)\nx'
    });
  });

  it('reads a bundle value given as a string or as lines', () => {
    expect(bundleText('a\nb')).toBe('a\nb');
    expect(bundleText(['a\n', 'b'])).toBe('a\nb');
    expect(bundleText(undefined)).toBe('');
    expect(bundleText({})).toBe('');
  });

  it('makes a static output from the rendered view, else from the output itself', () => {
    const output = {
      data: {
        'application/vnd.jupyter.widget-view+json': { model_id: 'm1', version_major: 2, version_minor: 0 },
        'text/html': ['<div class="jf-future" data-status="pending">', 'nap pending</div>'],
        'text/plain': 'Future nap-1: pending'
      },
      metadata: { ...live('k1'), tags: ['x'] }
    };
    const fromView = staleOutput(output, { html: FUTURE_HTML, text: 'nap running' }, REASON_RESTARTED);
    expect(fromView.output_type).toBe('display_data');
    expect(Object.keys(fromView.data).sort()).toEqual(['text/html', 'text/plain']);
    expect(fromView.data['text/html']).toContain(FUTURE_HTML);
    expect(fromView.data['text/plain']).toBe('(no longer live: the kernel restarted)\nnap running');
    expect(fromView.metadata).toEqual({
      jupyter_futures: { live: false, kind: 'future', kernel_id: 'k1', stale: REASON_RESTARTED },
      tags: ['x']
    });
    // the input is left alone
    expect(output.metadata.jupyter_futures.live).toBe(true);

    const fromOutput = staleOutput(output, null, REASON_GONE);
    expect(fromOutput.data['text/html']).toContain('<div class="jf-future" data-status="pending">nap pending</div></div>');
    expect(fromOutput.data['text/plain']).toBe('(no longer live: its kernel is gone)\nFuture nap-1: pending');
    // a view rendered without its text (not laid out) keeps the output's text
    const htmlOnly = staleOutput(output, { html: FUTURE_HTML, text: null }, REASON_STOPPED);
    expect(htmlOnly.data['text/html']).toContain(FUTURE_HTML);
    expect(htmlOnly.data['text/plain']).toBe('(no longer live: the kernel stopped)\nFuture nap-1: pending');
    expect(isLiveOutput(htmlOnly.metadata)).toBe(false);
  });

  it('tidies the text of a rendered view', () => {
    expect(tidyText('  nap \t\n\n\n\n3 / 8\u00a0\n')).toBe('nap\n\n3 / 8');
  });
});
