// Times a client gives the inventory API and the CLI: RFC 3339, epoch ms, or a duration ago ("24h", "7d").

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Epoch ms, or undefined when the text is none of the forms. */
export function parseSince(text: string, now: number): number | undefined {
  const ago = /^(\d{1,6})(s|m|h|d)$/.exec(text.trim());
  if (ago) return now - Number(ago[1]) * units[ago[2]!]!;
  if (/^\d{1,15}$/.test(text)) return Number(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isFinite(at) ? at : undefined;
}
