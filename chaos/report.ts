/** Sections as Markdown: printed by the runner and written to BENCHMARKS.md between the chaos markers. */
import { readFile, writeFile } from 'node:fs/promises';
import type { Section } from './types.js';

export const BLOCK_START = '<!-- chaos:start -->';
export const BLOCK_END = '<!-- chaos:end -->';
const HEADING = '## Reliability (`npm run chaos`)';

const cell = (v: unknown): string => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function sectionMarkdown(s: Section): string {
  const lines = [`### ${s.title} — ${s.pass ? 'pass' : '**FAIL**'}`, '', '| check | value | expected | |', '| --- | --- | --- | --- |'];
  for (const r of s.rows) lines.push(`| ${cell(r.check)} | ${cell(r.value)} | ${cell(r.expect ?? '')} | ${r.ok === undefined ? '' : r.ok ? 'ok' : '**no**'} |`);
  if (s.notes?.length) lines.push('', ...s.notes);
  return lines.join('\n');
}

/** The block between the markers: when, how, on what, then every section. */
export function reportBlock(sections: readonly Section[], meta: { command: string; when: Date; machine: string; setup: string }): string {
  const failed = sections.filter((s) => !s.pass).length;
  return [
    BLOCK_START,
    `\`${meta.command}\` — ${meta.when.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${meta.machine}. ${meta.setup}`,
    '',
    failed ? `**${failed} of ${sections.length} sections failed.**` : `All ${sections.length} sections pass.`,
    '',
    sections.map(sectionMarkdown).join('\n\n'),
    BLOCK_END,
  ].join('\n');
}

/** Replaces the marked block in `file` (adds the Reliability heading and the block at the end the first time). */
export async function writeReport(file: string, block: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const a = text.indexOf(BLOCK_START);
  const b = text.indexOf(BLOCK_END);
  const next = a >= 0 && b > a ? `${text.slice(0, a)}${block}${text.slice(b + BLOCK_END.length)}` : `${text.trimEnd()}\n\n${HEADING}\n\n${block}\n`;
  await writeFile(file, next);
}
