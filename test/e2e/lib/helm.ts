// SPDX-License-Identifier: Apache-2.0
// The charts in deploy/helm/ rendered by the real helm (test peer `helm`, built by scripts/test-peers/): for
// assertions on the objects (test/e2e/helm-charts.test.ts) and for applying them to a real API server
// (server-side apply of the rendered YAML).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { findTestPeerBin, testPeerBin } from './test-peers.js';

export const CHARTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'helm');
export const CHARTS = ['nexodus-server', 'nexd-proxy', 'nexlink'] as const;
export type ChartName = (typeof CHARTS)[number];

/** A Kubernetes object as rendered (only the fields every object has are typed). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form; tests narrow what they read
  [field: string]: any;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values, written to a values file (`-f`). */
  values?: Record<string, unknown>;
  /** `--set` arguments, i.e. `['serviceUrl=https://try.nexodus.io']`. */
  set?: string[];
}

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The helm binary, or undefined (and `t` skipped; failed in CI) when the test peer is not built. */
export function helmBin(t: TestContext): string | undefined {
  return testPeerBin(t, 'helm', 'helm');
}

/** The helm binary when built, without a test context (benchmarks, scripts). */
export function findHelm(): string | undefined {
  return findTestPeerBin('helm', 'helm');
}

export function runHelm(helm: string, args: readonly string[]): HelmResult {
  // A private HOME for helm's config and cache, so nothing of a user's helm setup (repos, plugins) leaks in.
  const home = mkdtempSync(join(tmpdir(), 'nexodus-helm-'));
  try {
    const r = spawnSync(helm, args, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: join(home, 'cache') },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function templateArgs(chart: ChartName, opts: RenderOptions, valuesFile: string | undefined): string[] {
  const args = [
    'template',
    opts.release ?? 'test',
    join(CHARTS_DIR, chart),
    '--namespace',
    opts.namespace ?? 'default',
  ];
  if (valuesFile) args.push('-f', valuesFile);
  for (const s of opts.set ?? []) args.push('--set', s);
  return args;
}

/** `helm template` of one chart: the result as helm printed it (a failed render has code != 0). */
export function helmTemplate(helm: string, chart: ChartName, opts: RenderOptions = {}): HelmResult {
  let dir: string | undefined;
  let valuesFile: string | undefined;
  if (opts.values) {
    dir = mkdtempSync(join(tmpdir(), 'nexodus-values-'));
    valuesFile = join(dir, 'values.json'); // JSON is YAML
    writeFileSync(valuesFile, JSON.stringify(opts.values));
  }
  try {
    return runHelm(helm, templateArgs(chart, opts, valuesFile));
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Renders a chart to YAML (multi-document); throws with helm's message when the render fails. */
export function renderChartYaml(helm: string, chart: ChartName, opts: RenderOptions = {}): string {
  const r = helmTemplate(helm, chart, opts);
  if (r.code !== 0) throw new Error(`helm template ${chart} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Parses multi-document YAML into objects (empty documents dropped). */
export function parseManifests(yaml: string): KubeObject[] {
  return parseAllDocuments(yaml)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** Renders a chart and parses it. */
export function renderChart(helm: string, chart: ChartName, opts: RenderOptions = {}): KubeObject[] {
  return parseManifests(renderChartYaml(helm, chart, opts));
}

/** The one object of `kind` (and `name`, when given); throws when there is not exactly one. */
export function findObject(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    );
  }
  return found[0]!;
}
