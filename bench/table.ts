// Renders the results as one markdown table: metrics down, proxies across, ratios and tender's targets on the right.
import type { ProxyId } from './proxies.js';

export interface Cell {
  /** The number ratios are computed from; undefined when the peer produced nothing measurable. */
  value: number | undefined;
  /** What to print, when it says more than the number (e.g. "1 (HEAD 0, GET 1)"). */
  text?: string;
}

/** What tender aims for in a row; `met` is undefined when the figure could not be measured. */
export interface Target {
  text: string;
  met: boolean | undefined;
}

export interface Row {
  metric: string;
  cells: Record<ProxyId, Cell>;
  format: (n: number) => string;
  /** Ratios make no sense for counts that should be 0 or error tallies. */
  ratios: boolean;
  target?: Target;
}

export const PROXY_ORDER: readonly ProxyId[] = ['tender', 'tender1', 'registry', 'nginx'];

export const fixed =
  (digits: number) =>
  (n: number): string =>
    n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '—';
  if (b === 0) return a === 0 ? '—' : '∞';
  const r = a / b;
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function cellText(cell: Cell, format: (n: number) => string): string {
  if (cell.text !== undefined) return cell.text;
  return cell.value === undefined ? 'n/a' : format(cell.value);
}

export function renderTable(labels: Record<ProxyId, string>, rows: Row[]): string {
  const header = ['Metric', ...PROXY_ORDER.map((id) => labels[id]), `tender/${labels.registry}`, `tender/${labels.nginx}`, 'Target (tender)', 'Met'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) {
    const t = row.cells.tender.value;
    const cols = [
      row.metric,
      ...PROXY_ORDER.map((id) => cellText(row.cells[id], row.format)),
      row.ratios ? ratio(t, row.cells.registry.value) : '',
      row.ratios ? ratio(t, row.cells.nginx.value) : '',
      row.target?.text ?? '',
      row.target ? (row.target.met === undefined ? '?' : row.target.met ? 'yes' : '**no**') : '',
    ];
    lines.push(`| ${cols.join(' | ')} |`);
  }
  return lines.join('\n');
}
